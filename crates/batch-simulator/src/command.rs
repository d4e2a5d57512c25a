//! What a command line "does" in the simulation.
//!
//! Nothing is executed. The simulator reads two things out of a start task's or task's
//! command line: how long it runs (`sleep N`, or Windows `timeout /t N`; default 1 s)
//! and how it exits (`exit N`; default 0). So `/bin/bash -c "sleep 30"` runs 30 simulated
//! seconds and succeeds, `/bin/bash -c "sleep 5; exit 3"` fails with exit code 3 after 5 s.

use std::time::Duration;

/// Duration and exit code of a simulated command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Effect {
    pub duration: Duration,
    pub exit_code: i32,
}

fn number_after(cmd: &str, word: &str) -> Option<f64> {
    let lower = cmd.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(pos) = rest.find(word) {
        let before_ok = pos == 0
            || !rest[..pos]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let after = rest[pos + word.len()..].trim_start();
        let num: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        if before_ok
            && let Ok(n) = num.parse::<f64>()
            && n.is_finite()
        {
            return Some(n);
        }
        rest = &rest[pos + word.len()..];
    }
    None
}

/// Interpret a command line.
pub(crate) fn effect(cmd: &str) -> Effect {
    let secs = number_after(cmd, "sleep ")
        .or_else(|| number_after(cmd, "timeout /t "))
        .unwrap_or(1.0)
        .clamp(0.0, 10.0 * 365.0 * 86_400.0);
    let exit_code = number_after(cmd, "exit ")
        .map(|n| n.clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .unwrap_or(0);
    Effect {
        duration: Duration::from_secs_f64(secs),
        exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sleep_and_exit() {
        assert_eq!(
            effect("/bin/bash -c \"sleep 30\"").duration,
            Duration::from_secs(30)
        );
        assert_eq!(effect("/bin/bash -c \"sleep 30\"").exit_code, 0);
        let e = effect("/bin/bash -c 'sleep 2; exit 3'");
        assert_eq!((e.duration, e.exit_code), (Duration::from_secs(2), 3));
        assert_eq!(effect("/bin/bash -c 'exit 1'").exit_code, 1);
        assert_eq!(effect("echo hi").duration, Duration::from_secs(1));
        assert_eq!(
            effect("cmd /c timeout /t 4").duration,
            Duration::from_secs(4)
        );
        assert_eq!(effect("nosleep 5").duration, Duration::from_secs(1));
    }
}
