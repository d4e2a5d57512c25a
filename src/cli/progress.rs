//! The live progress display on stderr, fed by the converge loop's
//! `progress` hook.
//!
//! On a terminal, indicatif keeps one line redrawn in place (wrapped
//! lines included), its elapsed time ticking every second, so an operator
//! sees the pool move without a scroll of identical lines.
//! Anywhere else (CI logs, pipes) a plain line is written only when the
//! pool's state changes, since redrawing would garble a log file.
//! stdout is left alone: it carries the result (and `--json`).

use crate::clock::{Clock, Stopwatch};
use crate::report::PoolView;
use crate::resizer::{Observed, Step};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

enum Mode {
    /// The live line; drawn from the first update on.
    Terminal(ProgressBar),
    Lines,
    Quiet,
}

pub(super) struct Progress {
    mode: Mode,
    watch: Stopwatch,
    /// The last state line shown, without the elapsed time.
    last: Mutex<Option<String>>,
}

impl Progress {
    pub(super) fn new(clock: Clock, quiet: bool) -> Self {
        let watch = clock.start();
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Terminal(live_line(watch))
        } else {
            Mode::Lines
        };
        Self {
            mode,
            watch,
            last: Mutex::new(None),
        }
    }

    /// One decision of the loop: what was seen and what comes next.
    pub(super) fn update(&self, observed: &Observed, step: &Step) {
        let line = state_line(observed, step);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let first = last.is_none();
        let changed = last.as_deref() != Some(line.as_str());
        match &self.mode {
            Mode::Terminal(bar) => {
                if first {
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    bar.enable_steady_tick(Duration::from_secs(1));
                }
                bar.set_message(line.clone());
            }
            Mode::Lines if changed => {
                eprintln!("{:>5} {line}", elapsed(self.watch));
            }
            Mode::Lines | Mode::Quiet => {}
        }
        *last = Some(line);
    }

    /// Leaves the live line as it last was, so the result starts on a
    /// fresh one below it.
    pub(super) fn finish(&self) {
        if let Mode::Terminal(bar) = &self.mode {
            bar.finish();
        }
    }
}

/// The live line, hidden until the first update so that a command that
/// fails before any look leaves no empty line behind; its elapsed time is
/// on the command's clock (simulated seconds in dev, like every time the
/// CLI prints), not indicatif's wall clock.
fn live_line(watch: Stopwatch) -> ProgressBar {
    let style = ProgressStyle::with_template("{msg} {elapsed_on_clock}")
        .expect("a fixed, valid template")
        .with_key(
            "elapsed_on_clock",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&elapsed(watch));
            },
        );
    ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_style(style)
}

fn elapsed(watch: Stopwatch) -> String {
    format!("{}s", watch.elapsed().as_secs())
}

/// `allocation=resizing target=2+0 current=1+0 ready=0 idle=0 starting=1 | nodes are starting`:
/// counts are dedicated+low-priority; node states as Batch spells them.
pub(super) fn state_line(observed: &Observed, step: &Step) -> String {
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
        Step::Fail(failure) => format!("failed: {}", failure.code.as_str()),
    }
}
