//! Where the engines report their progress: [`Progress`].

/// Receives an engine's progress updates ([`Fetched`] from
/// [`collect_dataset`](super::collect_dataset), [`TrainStep`](super::TrainStep)
/// from [`train`](super::train())).
///
/// Optional everywhere: pass `()` for no progress, or a closure by mutable
/// reference (`&mut |done, total| …` for the collector, `&mut |step| …` for
/// training).
///
/// ```
/// use cad_core::engine::{Fetched, Progress, TrainStep};
///
/// fn report(mut p: impl Progress<Fetched>) {
///     p.update(Fetched { done: 1, total: 2 });
/// }
/// report(()); // nowhere
/// let mut seen = Vec::new();
/// report(&mut |done, total| seen.push((done, total)));
/// assert_eq!(seen, [(1, 2)]);
///
/// fn steps(mut p: impl Progress<TrainStep>) {
///     p.update(TrainStep::Fitting);
/// }
/// steps(&mut |step| assert_eq!(step, TrainStep::Fitting));
/// ```
pub trait Progress<U>: Send {
    /// One update.
    fn update(&mut self, update: U);
}

/// No progress reported.
impl<U> Progress<U> for () {
    fn update(&mut self, _: U) {}
}

/// The collector's update: containers whose metrics were fetched so far, of
/// how many (early histories included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Containers fetched so far.
    pub done: usize,
    /// Containers to fetch in all.
    pub total: usize,
}

/// A closure `|done, total|` gets the collector's updates.
impl<F: FnMut(usize, usize) + Send + ?Sized> Progress<Fetched> for &mut F {
    fn update(&mut self, u: Fetched) {
        (**self)(u.done, u.total)
    }
}

/// A closure `|step|` gets the training steps.
impl<F: FnMut(super::TrainStep) + Send + ?Sized> Progress<super::TrainStep> for &mut F {
    fn update(&mut self, step: super::TrainStep) {
        (**self)(step)
    }
}
