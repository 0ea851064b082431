//! The steps of a workflow: an agent, a team or a function, and the steps that hold steps
//! (in sequence, in parallel, under a condition, in a loop, or picked by a router).

use std::sync::Arc;

use super::function::{IntoStepFunction, StepFunction, StepInput};
use crate::agent::Agent;
use crate::team::Team;

/// A predicate over a step's input: a condition's test, a loop's end.
pub(crate) type StepPredicate = Arc<dyn Fn(&StepInput) -> bool + Send + Sync>;

/// A router's choice: the names of the steps to run, in order.
pub(crate) type StepSelector = Arc<dyn Fn(&StepInput) -> Vec<String> + Send + Sync>;

/// One step of a workflow, named: its output is kept under its name for the steps after it.
#[derive(Clone)]
pub struct Step {
    name: String,
    kind: StepKind,
}

/// What a step does.
#[derive(Clone)]
pub(crate) enum StepKind {
    /// Runs an agent on the step's message.
    Agent(Box<Agent>),
    /// Runs a team on the step's message.
    Team(Box<Team>),
    /// Calls a Rust function.
    Function(StepFunction),
    /// Runs its steps one after the other.
    Steps(Vec<Step>),
    /// Runs its steps at once, each on the same input; their outputs are joined.
    Parallel(Vec<Step>),
    /// Runs `then` when the predicate holds, `otherwise` when it does not.
    Condition {
        test: StepPredicate,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    /// Runs its steps again until `until` holds after an iteration, at most `max` times.
    Loop {
        steps: Vec<Step>,
        until: Option<StepPredicate>,
        max: usize,
    },
    /// Runs the choices the selector names.
    Router {
        select: StepSelector,
        choices: Vec<Step>,
    },
}

impl Step {
    /// A step that runs `agent`.
    pub fn agent(name: impl Into<String>, agent: Agent) -> Self {
        Step::of(name, StepKind::Agent(Box::new(agent)))
    }

    /// A step that runs `team`.
    pub fn team(name: impl Into<String>, team: Team) -> Self {
        Step::of(name, StepKind::Team(Box::new(team)))
    }

    /// A step that calls `function`, sync or async, with the step's [`StepInput`].
    ///
    /// ```
    /// use agentos_runtime::workflow::{Json, Step, StepInput};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Count { words: usize }
    ///
    /// let count = Step::function("count", |input: StepInput| {
    ///     Json(Count { words: input.previous_or_message().split_whitespace().count() })
    /// });
    /// let shout = Step::function("shout", |input: StepInput| async move {
    ///     input.previous_or_message().to_uppercase()
    /// });
    /// assert_eq!(count.name(), "count");
    /// # let _ = shout;
    /// ```
    pub fn function<M>(name: impl Into<String>, function: impl IntoStepFunction<M>) -> Self {
        Step::of(name, StepKind::Function(function.into_step_function()))
    }

    fn of(name: impl Into<String>, kind: StepKind) -> Self {
        Step {
            name: name.into(),
            kind,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it does.
    pub(crate) fn kind(&self) -> &StepKind {
        &self.kind
    }

    /// agno's `step_type`: `Step` for an agent or a team, `Function`, `Steps`, `Parallel`,
    /// `Condition`, `Loop` or `Router`.
    pub fn step_type(&self) -> &'static str {
        match self.kind {
            StepKind::Agent(_) | StepKind::Team(_) => "Step",
            StepKind::Function(_) => "Function",
            StepKind::Steps(_) => "Steps",
            StepKind::Parallel(_) => "Parallel",
            StepKind::Condition { .. } => "Condition",
            StepKind::Loop { .. } => "Loop",
            StepKind::Router { .. } => "Router",
        }
    }

    /// The steps it holds, in order (a condition's `then` before its `otherwise`).
    pub fn children(&self) -> Vec<&Step> {
        match &self.kind {
            StepKind::Agent(_) | StepKind::Team(_) | StepKind::Function(_) => Vec::new(),
            StepKind::Steps(steps) | StepKind::Parallel(steps) => steps.iter().collect(),
            StepKind::Loop { steps, .. } => steps.iter().collect(),
            StepKind::Condition {
                then, otherwise, ..
            } => then.iter().chain(otherwise).collect(),
            StepKind::Router { choices, .. } => choices.iter().collect(),
        }
    }

    /// The step and every step it holds, at any depth, depth first.
    pub(crate) fn walk(&self) -> Vec<&Step> {
        let mut all = vec![self];
        for child in self.children() {
            all.extend(child.walk());
        }
        all
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("name", &self.name)
            .field("type", &self.step_type())
            .field("steps", &self.children())
            .finish()
    }
}

fn steps<S: Into<Step>>(steps: impl IntoIterator<Item = S>) -> Vec<Step> {
    steps.into_iter().map(Into::into).collect()
}

/// Steps run one after the other, as one named step.
pub struct Steps;

impl Steps {
    /// `steps`, in order, under `name`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S: Into<Step>>(name: impl Into<String>, steps: impl IntoIterator<Item = S>) -> Step {
        Step::of(name, StepKind::Steps(self::steps(steps)))
    }
}

/// Steps run at once, each given the same input. Their outputs are joined, each under its
/// step's name, as the parallel step's output.
pub struct Parallel;

impl Parallel {
    /// `steps`, run at once, under `name`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S: Into<Step>>(name: impl Into<String>, steps: impl IntoIterator<Item = S>) -> Step {
        Step::of(name, StepKind::Parallel(self::steps(steps)))
    }
}

/// Steps run only when a predicate over the input holds, and others when it does not.
///
/// ```
/// use agentos_runtime::workflow::{Condition, Step, StepInput};
///
/// let long = Condition::new("if long", |input: &StepInput| input.message().len() > 100)
///     .then([Step::function("summarize", |input: StepInput| input.message()[..100].to_owned())])
///     .otherwise([Step::function("keep", |input: StepInput| input.message().to_owned())]);
/// assert_eq!(long.into_step().children().len(), 2);
/// ```
pub struct Condition {
    name: String,
    test: StepPredicate,
    then: Vec<Step>,
    otherwise: Vec<Step>,
}

impl Condition {
    /// A condition named `name` that tests `test`; add its branches with
    /// [`Condition::then`] and [`Condition::otherwise`].
    pub fn new(
        name: impl Into<String>,
        test: impl Fn(&StepInput) -> bool + Send + Sync + 'static,
    ) -> Self {
        Condition {
            name: name.into(),
            test: Arc::new(test),
            then: Vec::new(),
            otherwise: Vec::new(),
        }
    }

    /// The steps run when the test holds.
    pub fn then<S: Into<Step>>(mut self, steps: impl IntoIterator<Item = S>) -> Self {
        self.then = self::steps(steps);
        self
    }

    /// The steps run when it does not (none unless set).
    pub fn otherwise<S: Into<Step>>(mut self, steps: impl IntoIterator<Item = S>) -> Self {
        self.otherwise = self::steps(steps);
        self
    }

    /// The condition as a step.
    pub fn into_step(self) -> Step {
        Step::of(
            self.name,
            StepKind::Condition {
                test: self.test,
                then: self.then,
                otherwise: self.otherwise,
            },
        )
    }
}

impl From<Condition> for Step {
    fn from(condition: Condition) -> Self {
        condition.into_step()
    }
}

/// Steps run again and again: until a predicate holds after an iteration, and never more than
/// a maximum number of times (3 unless set).
pub struct Loop {
    name: String,
    steps: Vec<Step>,
    until: Option<StepPredicate>,
    max: usize,
}

/// How many times a loop runs when nothing else says.
pub const DEFAULT_MAX_ITERATIONS: usize = 3;

impl Loop {
    /// `steps`, looped, under `name`.
    pub fn new<S: Into<Step>>(name: impl Into<String>, steps: impl IntoIterator<Item = S>) -> Self {
        Loop {
            name: name.into(),
            steps: self::steps(steps),
            until: None,
            max: DEFAULT_MAX_ITERATIONS,
        }
    }

    /// Ends the loop after an iteration whose output (the input the next step would get)
    /// satisfies `until`.
    pub fn until(mut self, until: impl Fn(&StepInput) -> bool + Send + Sync + 'static) -> Self {
        self.until = Some(Arc::new(until));
        self
    }

    /// Runs at most `max` iterations (at least one).
    pub fn max_iterations(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    /// The loop as a step.
    pub fn into_step(self) -> Step {
        Step::of(
            self.name,
            StepKind::Loop {
                steps: self.steps,
                until: self.until,
                max: self.max,
            },
        )
    }
}

impl From<Loop> for Step {
    fn from(looped: Loop) -> Self {
        looped.into_step()
    }
}

/// One of several steps, picked by a function of the input.
pub struct Router;

impl Router {
    /// Under `name`, the `choices` that `select` names, run in the order it names them:
    /// `Some(name)` or `None`, `[name]`, or several in a `Vec`. A name that is no choice's
    /// fails the step.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S, R>(
        name: impl Into<String>,
        select: impl Fn(&StepInput) -> R + Send + Sync + 'static,
        choices: impl IntoIterator<Item = S>,
    ) -> Step
    where
        S: Into<Step>,
        R: IntoIterator,
        R::Item: AsRef<str>,
    {
        let select: StepSelector = Arc::new(move |input| {
            select(input)
                .into_iter()
                .map(|name| name.as_ref().to_owned())
                .collect()
        });
        Step::of(
            name,
            StepKind::Router {
                select,
                choices: self::steps(choices),
            },
        )
    }
}
