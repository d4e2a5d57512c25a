//! Autoscale formulas, evaluated as Batch evaluates them.
//!
//! A pool with `enableAutoScale` has its formula evaluated when autoscale is enabled and
//! then every `autoScaleEvaluationInterval`; the targets it leaves in
//! `$TargetDedicatedNodes` / `$TargetLowPriorityNodes` become the pool's resize, with
//! `$NodeDeallocationOption` for the nodes it removes. This module is the language only:
//! [`parse`] (syntax errors are the request's 400), [`evaluate`] (evaluation errors go
//! into the `AutoScaleRun`, as recorded). When evaluations happen, where the samples
//! come from and what a result does to the pool is `crate::world::autoscale`.
//!
//! Written by hand (lexer, recursive-descent parser, tree-walking evaluator) because the
//! language is small and its error messages (`Line 1, Col 1: Undefined symbol: $x`) must
//! point at the formula's own text; a parser generator would add a dependency for less.
//!
//! # What the language covers
//!
//! | feature | supported |
//! |---|---|
//! | statements | `name = expr;` and bare `expr;`, `//` and `/* */` comments, at most 100 statements and 8192 characters |
//! | names | `$name` and plain `name` user variables; read before assignment: `Undefined symbol` |
//! | types | `double`, `doubleVec`, `doubleVecList` (function arguments), `timestamp`, `timeinterval`, `string` |
//! | operators | `+ - * /`, unary `- ! +`, `< <= > >= == !=`, `&& \|\|` (short-circuit), `?:`; on doubles, element-wise on doubleVec with a double or an equal-length doubleVec, and the documented timestamp/timeinterval arithmetic |
//! | constants | `TimeInterval_Zero`, `_100ns`, `_Microsecond`, `_Millisecond`, `_Second`, `_Minute`, `_Hour`, `_Day`, `_Week`, `_Year`; `requeue`, `terminate`, `taskcompletion`, `retaineddata` |
//! | functions | `avg ceil floor len lg ln log max min norm percentile rand range round std stop sum time val` |
//! | timestamp fields | `year month day weekday (0 = Sunday) hour minute second` |
//! | sampled variables | `$CPUPercent $WallClockSeconds $MemoryBytes $DiskBytes $DiskReadBytes $DiskWriteBytes $DiskReadOps $DiskWriteOps $NetworkInBytes $NetworkOutBytes $SampleNodeCount $ActiveTasks $RunningTasks $PendingTasks $SucceededTasks $FailedTasks $PreemptedNodeCount $UsableNodeCount`, with `GetSample(count \| interval \| timestamp [, end [, percent]])`, `GetSamplePercent(...)`, `Count()`, `GetSamplePeriod()`, `HistoryBeginTime()` |
//! | plain service variables | `$CurrentDedicatedNodes $CurrentLowPriorityNodes $TaskSlotsPerNode` |
//! | write variables | `$TargetDedicatedNodes` (and its old name `$TargetDedicated`, which the seed article's formula uses), `$TargetLowPriorityNodes`, `$NodeDeallocationOption`; read before assignment they hold the pool's current targets and `requeue` |
//!
//! Not modelled: the resource metrics (`$CPUPercent` is the share of nodes running a
//! task, the byte and operation counters are 0), preemption (`$PreemptedNodeCount` is
//! 0: the simulator never preempts), `$TargetDedicatedNodes` fractions (rounded down),
//! and the 30-second spacing Batch enforces between two `enableautoscale` calls.

mod eval;
mod lexer;
mod parser;
pub(crate) mod samples;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

pub(crate) use eval::{Evaluation, Inputs, evaluate};
pub(crate) use lexer::Pos;
pub(crate) use parser::{MAX_FORMULA_CHARS, Stmt};
pub(crate) use samples::{History, Metric, Sample};

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Formula {
    pub statements: Vec<Stmt>,
}

/// Parse `src`; the error is the one `enableautoscale` / `evaluateautoscale` answer 400 with.
pub(crate) fn parse(src: &str) -> Result<Formula, FormulaError> {
    Ok(Formula {
        statements: parser::parse(src)?,
    })
}

/// Whether the formula could not be read at all, or failed while running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Syntax,
    Evaluation,
}

/// A formula error, displayed as Batch words it: `Line 1, Col 1: Undefined symbol: $x`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormulaError {
    pub kind: ErrorKind,
    pub pos: Pos,
    pub message: String,
}

impl FormulaError {
    pub(crate) fn syntax(pos: Pos, message: impl Into<String>) -> Self {
        FormulaError {
            kind: ErrorKind::Syntax,
            pos,
            message: message.into(),
        }
    }

    pub(crate) fn eval(pos: Pos, message: impl Into<String>) -> Self {
        FormulaError {
            kind: ErrorKind::Evaluation,
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Line {}, Col {}: {}",
            self.pos.line, self.pos.col, self.message
        )
    }
}

impl std::error::Error for FormulaError {}
