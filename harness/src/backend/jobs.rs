//! Jobs: work of a higher layer that must run where the backend library
//! lives, such as a whole model run (weights stay next to the library
//! instead of crossing the worker pipe for every op).
//!
//! `backend` knows nothing of what a job means. A job is a kind name and
//! bytes in, bytes out; the layer that defines a kind supplies its
//! [`JobHandler`]. In process, [`Executor::run_job`] calls the handler it is
//! given on the loaded library. Through a worker, only the kind name and the
//! bytes cross the pipe, and the worker looks the kind up in the
//! [`JobHandlers`] that its entry point registered before
//! [`serve`](super::worker::serve): the same handler value on both paths,
//! found by name on one of them.
//!
//! [`Executor::run_job`]: super::Executor::run_job

use std::collections::BTreeMap;
use std::fmt;

use super::DylibBackend;

/// One kind of job: its name on the wire and the function that serves it.
#[derive(Clone, Copy)]
pub struct JobHandler {
    /// The name the job travels under to a worker; unique in a registry.
    pub kind: &'static str,
    /// What the job is, in the words of a result message (`a model run`):
    /// a crash or timeout reads "worker killed by SIGSEGV during a model run".
    pub during: &'static str,
    /// Runs one job on the loaded library: the job's bytes in, the answer's
    /// bytes out. The handler encodes its own failures into the answer; it
    /// must not panic on bytes it cannot read.
    pub serve: fn(&DylibBackend, &[u8]) -> Vec<u8>,
}

impl fmt::Debug for JobHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandler")
            .field("kind", &self.kind)
            .field("during", &self.during)
            .finish_non_exhaustive()
    }
}

/// The job kinds a worker process serves, by name.
#[derive(Debug, Clone, Default)]
pub struct JobHandlers {
    by_kind: BTreeMap<&'static str, JobHandler>,
}

impl JobHandlers {
    /// No handlers: such a worker answers op calls and measurements only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `handler`. Two handlers of one kind are a programming error in
    /// whoever assembles the registry, so that panics.
    pub fn register(&mut self, handler: JobHandler) -> &mut Self {
        if self.by_kind.insert(handler.kind, handler).is_some() {
            duplicate(handler.kind);
        }
        self
    }

    /// The handler registered for `kind`.
    pub fn get(&self, kind: &str) -> Option<&JobHandler> {
        self.by_kind.get(kind)
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_kind.keys().copied()
    }
}

#[cold]
fn duplicate(kind: &str) -> ! {
    panic!("two job handlers registered for kind `{kind}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(_: &DylibBackend, job: &[u8]) -> Vec<u8> {
        job.to_vec()
    }

    const ECHO: JobHandler = JobHandler {
        kind: "echo",
        during: "an echo",
        serve: echo,
    };

    #[test]
    fn handlers_are_found_by_kind() {
        let mut h = JobHandlers::new();
        assert!(h.get("echo").is_none());
        h.register(ECHO);
        assert_eq!(h.get("echo").map(|h| h.during), Some("an echo"));
        assert!(h.get("model").is_none());
        assert_eq!(h.kinds().collect::<Vec<_>>(), vec!["echo"]);
    }

    #[test]
    #[should_panic(expected = "two job handlers registered for kind `echo`")]
    fn a_kind_registered_twice_is_a_bug() {
        JobHandlers::new().register(ECHO).register(ECHO);
    }
}
