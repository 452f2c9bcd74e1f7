//! Labeling: which class a pod claims to be.
//!
//! The old system's rule: a pod's claimed class is the **first class in the
//! configured list** that the pod's name contains (`mysql-0` → `mysql`; with
//! classes `[sql, mysql]`, `mysql-0` → `sql`, because list order wins). A name
//! that contains none claims nothing. Matching ignores ASCII case.
//!
//! Operators who label their workloads can prefer a pod label instead
//! ([`Labeler::with_label_key`], for example `app.kubernetes.io/name`): when
//! the pod has that label and its value is one of the classes, that class is
//! the claim; otherwise the name rule applies.

use crate::pod::PodInfo;
use serde::{Deserialize, Serialize};

/// Decides a pod's claimed class from its name or labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labeler {
    classes: Vec<String>,
    lower: Vec<String>,
    label_key: Option<String>,
}

impl Labeler {
    /// A labeler for these classes, in priority order, using the name rule.
    /// Empty class names are ignored (they would match every pod).
    pub fn new<I, S>(classes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let classes: Vec<String> = classes.into_iter().map(Into::into).filter(|c| !c.is_empty()).collect();
        let lower = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
        Labeler {
            classes,
            lower,
            label_key: None,
        }
    }

    /// Parses a comma-separated class list (`"mysql,nginx,apache"`); blanks are trimmed.
    pub fn from_list(list: &str) -> Self {
        Labeler::new(list.split(',').map(str::trim))
    }

    /// Also take the class from the pod label `key` where present (it wins over the name).
    pub fn with_label_key(mut self, key: impl Into<String>) -> Self {
        self.label_key = Some(key.into());
        self
    }

    /// The configured classes, in priority order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The label key consulted first, if any.
    pub fn label_key(&self) -> Option<&str> {
        self.label_key.as_deref()
    }

    /// The class a pod name claims under the name rule.
    pub fn class_of_name(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.lower
            .iter()
            .position(|c| name.contains(c.as_str()))
            .map(|i| self.classes[i].as_str())
    }

    /// The class a label value names, if it is one of the classes (ASCII case ignored).
    pub fn class_of_label_value(&self, value: &str) -> Option<&str> {
        self.classes
            .iter()
            .find(|c| c.eq_ignore_ascii_case(value.trim()))
            .map(String::as_str)
    }

    /// The class `pod` claims: from its label if configured and valid, else from its name.
    pub fn claimed_class(&self, pod: &PodInfo) -> Option<&str> {
        self.label_key
            .as_ref()
            .and_then(|k| pod.labels.get(k))
            .and_then(|v| self.class_of_label_value(v))
            .or_else(|| self.class_of_name(&pod.id.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::PodId;
    use proptest::prelude::*;

    fn pod(name: &str, labels: &[(&str, &str)]) -> PodInfo {
        let mut p = PodInfo::new(PodId::new("default", name, "uid"));
        p.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        p
    }

    #[test]
    fn the_old_rule() {
        let l = Labeler::from_list("mysql,nginx,apache,postgres,mongo");
        assert_eq!(l.class_of_name("mysql-0"), Some("mysql"));
        assert_eq!(l.class_of_name("nginx1239841"), Some("nginx"));
        assert_eq!(l.class_of_name("my-postgres-db-5d8f"), Some("postgres"));
        assert_eq!(l.class_of_name("redis-master-0"), None);
        assert_eq!(l.class_of_name("NGINX-Big"), Some("nginx"));
        // list order wins, not position in the name
        let l = Labeler::from_list("nginx,mysql");
        assert_eq!(l.class_of_name("mysql-behind-nginx"), Some("nginx"));
        assert!(Labeler::from_list(" , ,").classes().is_empty());
    }

    #[test]
    fn the_label_rule_wins_when_valid() {
        let l = Labeler::from_list("mysql,nginx").with_label_key("app.kubernetes.io/name");
        assert_eq!(
            l.claimed_class(&pod("nginx-1", &[("app.kubernetes.io/name", "mysql")])),
            Some("mysql")
        );
        assert_eq!(
            l.claimed_class(&pod("nginx-1", &[("app.kubernetes.io/name", "MySQL")])),
            Some("mysql")
        );
        // unknown label value: the name decides
        assert_eq!(
            l.claimed_class(&pod("nginx-1", &[("app.kubernetes.io/name", "redis")])),
            Some("nginx")
        );
        assert_eq!(l.claimed_class(&pod("web-1", &[])), None);
        // without a label key the label is ignored
        let l = Labeler::from_list("mysql,nginx");
        assert_eq!(
            l.claimed_class(&pod("nginx-1", &[("app.kubernetes.io/name", "mysql")])),
            Some("nginx")
        );
    }

    proptest! {
        #[test]
        fn name_rule_is_first_listed_class_contained(
            classes in prop::collection::vec("[a-z]{1,6}", 0..6),
            name in "[a-z0-9.-]{0,40}",
        ) {
            let l = Labeler::new(classes.clone());
            let got = l.class_of_name(&name);
            let want = classes.iter().find(|c| name.contains(c.as_str())).map(String::as_str);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn a_name_built_around_a_class_claims_a_class_it_contains(
            classes in prop::collection::vec("[a-z]{1,6}", 1..6),
            pick in any::<prop::sample::Index>(),
            prefix in "[a-z0-9-]{0,10}",
            suffix in "[0-9a-f-]{0,10}",
        ) {
            let class = pick.get(&classes).clone();
            let name = format!("{prefix}{class}{suffix}");
            let l = Labeler::new(classes.clone());
            let got = l.class_of_name(&name);
            prop_assert!(got.is_some());
            prop_assert!(name.contains(got.unwrap()));
            // and no class listed earlier is contained
            let pos = classes.iter().position(|c| c == got.unwrap()).unwrap();
            prop_assert!(classes[..pos].iter().all(|c| !name.contains(c.as_str())));
        }

        #[test]
        fn label_rule_takes_valid_values_and_falls_back_to_the_name(
            classes in prop::collection::vec("[a-z]{1,6}", 1..6),
            value in "[a-zA-Z]{0,8}",
            name in "\\PC{0,30}",
        ) {
            let l = Labeler::new(classes.clone()).with_label_key("app");
            let p = pod(&name, &[("app", &value)]);
            let got = l.claimed_class(&p);
            match classes.iter().find(|c| c.eq_ignore_ascii_case(&value)) {
                Some(c) => prop_assert_eq!(got, Some(c.as_str())),
                None => prop_assert_eq!(got, l.class_of_name(&name)),
            }
        }
    }
}
