//! The live progress display on stderr, fed by the converge loop's
//! `progress` hook.
//!
//! On a terminal one line is redrawn in place (`\r`) and its elapsed time
//! ticks every second, so an operator sees the pool move without a scroll of
//! identical lines. Anywhere else (CI logs, pipes) a plain line is written
//! only when the pool's state changes, since `\r` would garble a log file.
//! stdout is left alone: it carries the result (and `--json`).

use crate::clock::{Clock, Stopwatch};
use crate::report::PoolView;
use crate::resizer::{Observed, Step};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Terminal,
    Lines,
    Quiet,
}

pub struct Progress {
    mode: Mode,
    watch: Stopwatch,
    /// The last state line shown, without the elapsed time.
    last: Mutex<Option<String>>,
}

impl Progress {
    pub fn new(clock: Clock, quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        Self {
            mode,
            watch: clock.start(),
            last: Mutex::new(None),
        }
    }

    /// One decision of the loop: what was seen and what comes next.
    pub fn update(&self, observed: &Observed, step: &Step) {
        let line = state_line(observed, step);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let changed = last.as_deref() != Some(line.as_str());
        *last = Some(line);
        match self.mode {
            Mode::Terminal => self.redraw(last.as_deref()),
            Mode::Lines if changed => {
                eprintln!("{:>5} {}", self.elapsed(), last.as_deref().unwrap_or(""));
            }
            Mode::Lines | Mode::Quiet => {}
        }
    }

    /// Keeps the elapsed time moving between polls (terminal only). Never
    /// completes: race it against the work.
    pub async fn tick(&self) {
        if self.mode != Mode::Terminal {
            return std::future::pending().await;
        }
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some() {
                self.redraw(last.as_deref());
            }
        }
    }

    /// Ends the redrawn line so the result starts on a fresh one.
    pub fn finish(&self) {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if self.mode == Mode::Terminal && last.is_some() {
            eprintln!();
        }
    }

    fn redraw(&self, line: Option<&str>) {
        let mut err = std::io::stderr().lock();
        // `\x1b[K` clears what a longer previous line left behind.
        let _ = write!(err, "\r{} {}\x1b[K", line.unwrap_or(""), self.elapsed());
        let _ = err.flush();
    }

    fn elapsed(&self) -> String {
        format!("{}s", self.watch.elapsed().as_secs())
    }
}

/// `allocation=resizing target=2+0 current=1+0 ready=0 idle=0 starting=1 | nodes are starting`:
/// counts are dedicated+low-priority; node states as Batch spells them.
pub fn state_line(observed: &Observed, step: &Step) -> String {
    let view = PoolView::of(observed);
    if !view.exists {
        return "pool not found".to_owned();
    }
    let mut line = format!(
        "allocation={} target={}+{} current={}+{}",
        view.allocation_state.as_deref().unwrap_or("?"),
        view.target_dedicated_nodes,
        view.target_low_priority_nodes,
        view.current_dedicated_nodes,
        view.current_low_priority_nodes,
    );
    if view.nodes_observed {
        line.push_str(&format!(
            " ready={}+{}",
            view.ready_dedicated_nodes, view.ready_low_priority_nodes
        ));
    }
    for (state, count) in &view.nodes_by_state {
        line.push_str(&format!(" {state}={count}"));
    }
    line.push_str(" | ");
    line.push_str(&next_step(step));
    line
}

fn next_step(step: &Step) -> String {
    match step {
        Step::Done => "done".to_owned(),
        Step::Resize(to) => format!("resizing to {}+{}", to.dedicated, to.low_priority),
        Step::StopResize => "stopping a resize in the other direction".to_owned(),
        Step::RemoveNodes(nodes) => format!("replacing {} failed node(s)", nodes.len()),
        Step::Wait(reason) => reason.describe().to_owned(),
        Step::Fail(failure) => format!("failed: {:?}", failure.code),
    }
}
