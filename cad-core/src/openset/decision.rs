//! The watcher's decision: the [`Kind`] of a verdict from the classifier's
//! prediction, the open-set [`Judgement`] and the claimed class.
//!
//! One small pure function, so that the rule can change (and be measured)
//! without touching the watcher.

use super::{Judgement, Kind};

/// The kind of a verdict on a container that claims class `claimed` (an
/// index, if any), that the classifier predicts as class `predicted` with
/// (calibrated) confidence `confidence`, and that the open-set model judged
/// as `judgement` (`None`: the model has no open-set calibration).
///
/// With a judgement, its prediction set decides: empty → [`Kind::Unknown`];
/// the claimed class outside it → [`Kind::Impostor`]; in it →
/// [`Kind::AsClaimed`], whatever the classifier predicts (the default
/// `combined` score already weighs the forest's probability of the claimed
/// class; adding "the classifier predicts another class" flagged 46 of 600
/// honest pods in `cad demo --sweep 20`, nginx and apache taken for each
/// other in their first minute); without a claim, one class → [`Kind::Recognised`],
/// several → [`Kind::Recognised`] too when the classifier's prediction is
/// one of them, else [`Kind::Undecided`]; a row with too few usable
/// features stays [`Kind::Undecided`] (not an anomaly).
///
/// Without one (a bundle of format 2 or 3, or trained without calibration),
/// the classifier alone: a claimed class other than the prediction →
/// [`Kind::Impostor`], the same → [`Kind::AsClaimed`], no claim →
/// [`Kind::Recognised`]. (The watcher adds its raw confidence threshold to
/// that case; see `WatcherConfig::confidence_threshold`.)
pub fn decide(predicted: usize, confidence: f64, judgement: Option<&Judgement>, claimed: Option<usize>) -> Kind {
    let _ = confidence;
    let Some(j) = judgement else {
        return match claimed {
            Some(c) if c != predicted => Kind::Impostor,
            Some(_) => Kind::AsClaimed,
            None => Kind::Recognised,
        };
    };
    match j.kind {
        Kind::Undecided if claimed.is_none() && j.set.contains(&predicted) => Kind::Recognised,
        kind => kind,
    }
}

/// The rate a container is judged at: `false_anomaly_rate` when it claims a
/// class, else `unclaimed_false_unknown_rate` (see
/// [`DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE`](super::DEFAULT_UNCLAIMED_FALSE_UNKNOWN_RATE)).
/// The watcher and the open-set evaluation both choose it here.
pub fn rate(claims_a_class: bool, false_anomaly_rate: f64, unclaimed_false_unknown_rate: f64) -> f64 {
    if claims_a_class {
        false_anomaly_rate
    } else {
        unclaimed_false_unknown_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgement(kind: Kind, set: &[usize]) -> Judgement {
        Judgement {
            kind,
            behaves_like: set.first().copied(),
            p_value: Some(0.2),
            set: set.to_vec(),
        }
    }

    #[test]
    fn without_a_judgement_the_classifier_decides() {
        assert_eq!(decide(1, 0.99, None, Some(0)), Kind::Impostor);
        assert_eq!(decide(0, 0.3, None, Some(0)), Kind::AsClaimed);
        assert_eq!(decide(2, 0.5, None, None), Kind::Recognised);
    }

    #[test]
    fn the_prediction_set_decides_and_the_classifier_breaks_ties() {
        let unknown = judgement(Kind::Unknown, &[]);
        assert_eq!(decide(0, 0.99, Some(&unknown), Some(0)), Kind::Unknown);
        let impostor = judgement(Kind::Impostor, &[1]);
        assert_eq!(decide(1, 0.99, Some(&impostor), Some(0)), Kind::Impostor);
        let claimed = judgement(Kind::AsClaimed, &[0, 1]);
        assert_eq!(decide(0, 0.9, Some(&claimed), Some(0)), Kind::AsClaimed);
        assert_eq!(
            decide(1, 0.9, Some(&claimed), Some(0)),
            Kind::AsClaimed,
            "the prediction set decides"
        );
        let several = judgement(Kind::Undecided, &[0, 2]);
        assert_eq!(decide(2, 0.6, Some(&several), None), Kind::Recognised);
        assert_eq!(decide(1, 0.6, Some(&several), None), Kind::Undecided);
        let few_features = Judgement {
            kind: Kind::Undecided,
            behaves_like: None,
            p_value: None,
            set: Vec::new(),
        };
        assert_eq!(decide(1, 0.9, Some(&few_features), Some(0)), Kind::Undecided);
        assert!(!decide(1, 0.9, Some(&few_features), Some(0)).is_anomaly());
    }
}
