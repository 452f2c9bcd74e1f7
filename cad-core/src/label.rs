//! Labeling: which class a pod, and each of its containers, claims to be.
//!
//! The old system's rule: a pod's claimed class is the **first class in the
//! configured list** that the pod's name contains (`mysql-0` → `mysql`; with
//! classes `[sql, mysql]`, `mysql-0` → `sql`, because list order wins). A name
//! that contains none claims nothing. Matching ignores ASCII case.
//!
//! A class of a well-known server is also matched by the other names its
//! software goes by ([`CLASS_ALIASES`]): `apache` by `httpd` (the official
//! image), `mysql` by `mariadb`, `postgresql` by `postgres`, `mongodb` by
//! `mongo`. An alias that overlaps another configured class (a list with
//! both `mysql` and `mariadb`) is not used.
//!
//! Operators who label their workloads can prefer a pod label instead
//! ([`Labeler::with_label_key`], for example `app.kubernetes.io/name`): when
//! the pod has that label and its value is one of the classes, that class is
//! the claim; otherwise the name rule applies.
//!
//! # Per container
//!
//! A pod may run several containers: the application and sidecars
//! (`istio-proxy`, `fluent-bit`, …), or two applications. Each container's
//! claim ([`Labeler::container_claims`]) comes, in order, from:
//!
//! 1. the pod label (`--label-key`), if its value is a class;
//! 2. the container's own name, or its image's name (`docker.io/bitnami/mysql:8`
//!    → `mysql`), containing a class (the name rule);
//! 3. the pod's name (the name rule).
//!
//! A claim that comes from the pod (steps 1 and 3) belongs to the
//! containers that match it by their own name or image when there are any:
//! in a pod `mysql-0` with containers `mysql` and `exporter`, only `mysql`
//! claims mysql, and `exporter` claims nothing (unless its own name claims
//! another class). With no such container, every container of the pod
//! claims it (a pod `mysql-0` whose only container is `app` claims mysql).
//!
//! Known sidecar and infrastructure containers ([`DEFAULT_SIDECARS`], or the
//! list given to [`Labeler::with_sidecars`]) claim nothing and are neither
//! trained on nor judged: [`ContainerClaim::Sidecar`]. A container is one
//! when its name, or its image's name, is one of the list (ASCII case
//! ignored; `*` in an entry stands for any run of characters, so
//! `*exporter` is every Prometheus exporter: `mysqld-exporter`,
//! `postgres-exporter`, `nginx-prometheus-exporter`, whose image names
//! contain a class and would otherwise claim it). A sidecar that is also a
//! configured class is not one — an entry that is a class, or a container
//! whose own name or image name is one: the user asked for it to be
//! classified.

use crate::pod::{ContainerInfo, PodInfo};
use serde::{Deserialize, Serialize};

/// The sidecar and infrastructure containers that are neither trained on
/// nor judged by default (`--sidecars`): service-mesh proxies, secret and
/// database proxies, log shippers, Prometheus exporters (`*exporter`: a
/// database's exporter sidecar, `mysqld-exporter`, would otherwise claim
/// the database's class by its image name) and config reloaders.
pub const DEFAULT_SIDECARS: &[&str] = &[
    "istio-proxy",
    "linkerd-proxy",
    "envoy",
    "vault-agent",
    "cloud-sql-proxy",
    "fluent-bit",
    "fluentd",
    "*exporter",
    "*config-reloader",
    "configmap-reload",
    "kube-rbac-proxy",
    "oauth2-proxy",
    "gce-proxy",
    "promtail",
    "filebeat",
    "jaeger-agent",
];

/// Families of names of one server's software: a class named like one of
/// a family is also matched by the family's other names (see the
/// [module documentation](self)).
pub const CLASS_ALIASES: &[&[&str]] = &[
    &["apache", "apache2", "httpd"],
    &["mysql", "mariadb"],
    &["postgresql", "postgres"],
    &["mongodb", "mongo"],
];

/// Whether `text` matches `pattern`, ASCII case ignored, where `*` in the
/// pattern stands for any run of characters (none included).
///
/// Hand-written rather than `globset`/`wildmatch`: a sidecar entry needs
/// only `*`, and the labeler keeps its list as plain strings that it can
/// compare, clone and serialise.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    // Where the last `*` was, and the text position it is matched up to.
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i].eq_ignore_ascii_case(&t[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            // Let the last `*` take one more character and try again.
            star = Some((si, sj + 1));
            i = si + 1;
            j = sj + 1;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// What one container of a pod claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerClaim<'a> {
    /// A configured class.
    Class(&'a str),
    /// A known sidecar (the matching entry of the sidecar list): neither
    /// trained on nor judged.
    Sidecar(&'a str),
    /// No class.
    Nothing,
}

impl<'a> ContainerClaim<'a> {
    /// The class claimed, if any.
    pub fn class(self) -> Option<&'a str> {
        match self {
            ContainerClaim::Class(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the container is a known sidecar.
    pub fn is_sidecar(self) -> bool {
        matches!(self, ContainerClaim::Sidecar(_))
    }
}

/// Decides a pod's and its containers' claimed classes from names, images
/// and labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labeler {
    classes: Vec<String>,
    /// Each class's names, lowercase: its own, then its usable aliases
    /// ([`Labeler::names_of`]), found once here rather than at each lookup.
    names: Vec<Vec<String>>,
    label_key: Option<String>,
    #[serde(default = "default_sidecars")]
    sidecars: Vec<String>,
}

fn default_sidecars() -> Vec<String> {
    DEFAULT_SIDECARS.iter().map(|s| (*s).to_owned()).collect()
}

/// The names class `i` of the lowercase class list `lower` is matched by:
/// its own, then its [aliases](CLASS_ALIASES) that overlap no other class.
fn names_of_class(lower: &[String], i: usize) -> Vec<String> {
    let own = &lower[i];
    let overlaps = |a: &str| {
        lower
            .iter()
            .enumerate()
            .any(|(j, c)| j != i && (c.contains(a) || a.contains(c.as_str())))
    };
    let family = CLASS_ALIASES.iter().find(|f| f.contains(&own.as_str())).copied();
    std::iter::once(own.clone())
        .chain(
            family
                .unwrap_or_default()
                .iter()
                .filter(|a| **a != own.as_str() && !overlaps(a))
                .map(|a| (*a).to_owned()),
        )
        .collect()
}

/// The name of an image reference: its last path segment without tag or
/// digest (`registry:5000/team/mysql:8.0@sha256:…` → `mysql`).
pub fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last)
}

impl Labeler {
    /// A labeler for these classes, in priority order, using the name rule
    /// and the [default sidecar list](DEFAULT_SIDECARS).
    /// Empty class names are ignored (they would match every pod).
    pub fn new<I, S>(classes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let classes: Vec<String> = classes.into_iter().map(Into::into).filter(|c| !c.is_empty()).collect();
        let lower: Vec<String> = classes.iter().map(|c| c.to_ascii_lowercase()).collect();
        let names = (0..lower.len()).map(|i| names_of_class(&lower, i)).collect();
        Labeler {
            classes,
            names,
            label_key: None,
            sidecars: default_sidecars(),
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

    /// Replaces the sidecar list (blank entries are ignored; an empty list:
    /// no container is a sidecar).
    pub fn with_sidecars<I, S>(mut self, sidecars: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sidecars = sidecars
            .into_iter()
            .map(Into::into)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
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

    /// The sidecar list, as configured.
    pub fn sidecars(&self) -> &[String] {
        &self.sidecars
    }

    /// The names class `i` is matched by, lowercase: its own, then its
    /// [aliases](CLASS_ALIASES) that overlap no other configured class
    /// (empty for an index out of range).
    pub fn names_of(&self, i: usize) -> &[String] {
        self.names.get(i).map_or(&[], Vec::as_slice)
    }

    /// The class a pod name claims under the name rule.
    pub fn class_of_name(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        (0..self.classes.len())
            .find(|&i| self.names_of(i).iter().any(|n| name.contains(n.as_str())))
            .map(|i| self.classes[i].as_str())
    }

    /// The class a label value names, if it is one of the classes or
    /// their aliases (ASCII case ignored).
    pub fn class_of_label_value(&self, value: &str) -> Option<&str> {
        let value = value.trim().to_ascii_lowercase();
        (0..self.classes.len())
            .find(|&i| self.names_of(i).contains(&value))
            .map(|i| self.classes[i].as_str())
    }

    /// The class `pod` claims: from its label if configured and valid, else
    /// from its name. See [`Labeler::container_claims`] for its containers.
    pub fn claimed_class(&self, pod: &PodInfo) -> Option<&str> {
        self.label_class(pod).or_else(|| self.class_of_name(&pod.id.name))
    }

    fn label_class(&self, pod: &PodInfo) -> Option<&str> {
        self.label_key
            .as_ref()
            .and_then(|k| pod.labels.get(k))
            .and_then(|v| self.class_of_label_value(v))
    }

    /// The sidecar-list entry `container` is, if it is a known sidecar that
    /// is not a configured class.
    pub fn sidecar_of(&self, container: &ContainerInfo) -> Option<&str> {
        let image = image_name(&container.image);
        let is_class = |x: &str| self.classes.iter().any(|c| c.eq_ignore_ascii_case(x));
        if is_class(&container.name) || is_class(image) {
            return None;
        }
        self.sidecars
            .iter()
            .find(|s| wildcard_match(s, &container.name) || wildcard_match(s, image))
            .filter(|s| !is_class(s))
            .map(String::as_str)
    }

    /// The class a container's own name or image name claims (name rule;
    /// the container's name first).
    pub fn class_of_container(&self, container: &ContainerInfo) -> Option<&str> {
        self.class_of_name(&container.name)
            .or_else(|| self.class_of_name(image_name(&container.image)))
    }

    /// What each container of `pod` claims, in the order of
    /// [`PodInfo::containers`]; see the [module documentation](self).
    pub fn container_claims<'a>(&'a self, pod: &PodInfo) -> Vec<ContainerClaim<'a>> {
        let sidecar: Vec<Option<&'a str>> = pod.containers.iter().map(|c| self.sidecar_of(c)).collect();
        let own: Vec<Option<&'a str>> = pod
            .containers
            .iter()
            .zip(&sidecar)
            .map(|(c, s)| if s.is_some() { None } else { self.class_of_container(c) })
            .collect();
        // A claim of the pod (label or name) goes to the containers that
        // match it themselves, if any; else to every container.
        let pod_claim =
            |class: Option<&'a str>, i: usize| class.filter(|c| own[i] == Some(*c) || !own.contains(&Some(*c)));
        let (label, name) = (self.label_class(pod), self.class_of_name(&pod.id.name));
        (0..pod.containers.len())
            .map(|i| match sidecar[i] {
                Some(s) => ContainerClaim::Sidecar(s),
                None => pod_claim(label, i)
                    .or(own[i])
                    .or_else(|| pod_claim(name, i))
                    .map_or(ContainerClaim::Nothing, ContainerClaim::Class),
            })
            .collect()
    }

    /// What the container named `container` of `pod` claims
    /// ([`ContainerClaim::Nothing`] if the pod has no such container).
    pub fn container_claim(&self, pod: &PodInfo, container: &str) -> ContainerClaim<'_> {
        pod.containers
            .iter()
            .position(|c| c.name == container)
            .map_or(ContainerClaim::Nothing, |i| self.container_claims(pod)[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::{ContainerInfo, PodId};
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

    fn with_containers(name: &str, labels: &[(&str, &str)], containers: &[(&str, &str)]) -> PodInfo {
        let mut p = pod(name, labels);
        p.containers = containers.iter().map(|(n, i)| ContainerInfo::new(*n, *i)).collect();
        p
    }

    #[test]
    fn images_are_named_by_their_last_segment() {
        assert_eq!(image_name("nginx"), "nginx");
        assert_eq!(image_name("nginx:1.25"), "nginx");
        assert_eq!(image_name("registry:5000/team/mysql:8.0@sha256:abc"), "mysql");
        assert_eq!(image_name("docker.io/istio/proxyv2:1.20"), "proxyv2");
        assert_eq!(image_name(""), "");
    }

    #[test]
    fn containers_claim_by_label_then_own_name_or_image_then_pod_name() {
        use ContainerClaim::*;
        let l = Labeler::from_list("mysql,nginx,postgres").with_label_key("app");
        // One container: the pod's claim, as before.
        let p = with_containers("mysql-0", &[], &[("app", "example/app:1")]);
        assert_eq!(l.container_claims(&p), [Class("mysql")]);
        // A sidecar claims nothing, by name or by image.
        let p = with_containers(
            "mysql-0",
            &[],
            &[
                ("mysql", "mysql:8"),
                ("istio-proxy", "docker.io/istio/proxyv2"),
                ("logs", "fluent/fluent-bit:3"),
            ],
        );
        assert_eq!(
            l.container_claims(&p),
            [Class("mysql"), Sidecar("istio-proxy"), Sidecar("fluent-bit")]
        );
        assert!(l.container_claim(&p, "istio-proxy").is_sidecar());
        assert_eq!(l.container_claim(&p, "nope"), Nothing);
        // The pod name's claim belongs to the container that matches it.
        let p = with_containers(
            "mysql-0",
            &[],
            &[("backup", "team/backup-agent"), ("db", "bitnami/mysql:8")],
        );
        assert_eq!(l.container_claims(&p), [Nothing, Class("mysql")]);
        // Two applications, each with its own name.
        let p = with_containers("shop-0", &[], &[("web", "nginx:1.25"), ("db", "postgres:16")]);
        assert_eq!(l.container_claims(&p), [Class("nginx"), Class("postgres")]);
        // The label wins over the container's name …
        let p = with_containers("x-1", &[("app", "postgres")], &[("main", "nginx:1")]);
        assert_eq!(l.container_claims(&p), [Class("postgres")]);
        // … unless another container matches the label's class itself.
        let p = with_containers(
            "x-1",
            &[("app", "postgres")],
            &[("web", "nginx:1"), ("db", "postgres:16")],
        );
        assert_eq!(l.container_claims(&p), [Class("nginx"), Class("postgres")]);
        // No claim anywhere.
        let p = with_containers("web-1", &[], &[("main", "example/app")]);
        assert_eq!(l.container_claims(&p), [Nothing]);
    }

    #[test]
    fn the_sidecar_list_is_configurable_and_a_listed_class_is_classified() {
        use ContainerClaim::*;
        let p = with_containers("nginx-1", &[], &[("nginx", "nginx"), ("envoy", "envoyproxy/envoy:v1")]);
        assert_eq!(
            Labeler::from_list("nginx").container_claims(&p),
            [Class("nginx"), Sidecar("envoy")]
        );
        // The user lists envoy as a class: it is classified as one.
        assert_eq!(
            Labeler::from_list("nginx,envoy").container_claims(&p),
            [Class("nginx"), Class("envoy")]
        );
        // An empty list: the envoy container is an ordinary container of a
        // pod whose name claims nginx, which another container matches.
        let none = Labeler::from_list("nginx").with_sidecars(Vec::<String>::new());
        assert_eq!(none.container_claims(&p), [Class("nginx"), Nothing]);
        let custom = Labeler::from_list("nginx").with_sidecars([" Envoy ", ""]);
        assert_eq!(custom.sidecars(), ["Envoy"]);
        assert_eq!(custom.container_claims(&p), [Class("nginx"), Sidecar("Envoy")]);
        assert_eq!(Labeler::from_list("a").sidecars().len(), DEFAULT_SIDECARS.len());
    }

    #[test]
    fn exporters_and_other_infrastructure_are_sidecars_by_their_pattern() {
        use ContainerClaim::*;
        let l = Labeler::from_list("mysql,postgresql,nginx,apache,mongodb");
        // Bitnami's charts name the exporter container `metrics`: its image
        // names the database, which it would otherwise claim.
        let p = with_containers(
            "mysql-0",
            &[],
            &[
                ("mysql", "docker.io/bitnami/mysql:8.4"),
                ("metrics", "docker.io/bitnami/mysqld-exporter:0.15"),
            ],
        );
        assert_eq!(l.container_claims(&p), [Class("mysql"), Sidecar("*exporter")]);
        for (name, image) in [
            ("exporter", "quay.io/prometheuscommunity/postgres-exporter:v0.15"),
            ("nginx-exporter", "nginx/nginx-prometheus-exporter:1.1"),
            ("metrics", "percona/mongodb_exporter:0.40"),
            ("Apache_Exporter", "lusotycoon/apache-exporter"),
            (
                "reloader",
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.7",
            ),
        ] {
            let c = ContainerInfo::new(name, image);
            assert!(l.sidecar_of(&c).is_some(), "{name} {image}");
        }
        // Not an exporter: the word must end the name.
        let c = ContainerInfo::new("exporter-api", "team/exporter-api:1");
        assert_eq!(l.sidecar_of(&c), None);
        // A class the user lists is classified, pattern or not.
        let l = Labeler::from_list("mysql,mysqld-exporter");
        let c = ContainerInfo::new("metrics", "bitnami/mysqld-exporter:0.15");
        assert_eq!(l.sidecar_of(&c), None);
    }

    #[test]
    fn well_known_servers_are_also_claimed_by_their_other_names() {
        use ContainerClaim::*;
        let l = Labeler::from_list("nginx,apache,postgresql,mysql,mongodb");
        for (name, class) in [
            ("httpd-7f9c4d8b6-xk2lp", "apache"),
            ("apache2-0", "apache"),
            ("mariadb-0", "mysql"),
            ("postgres-0", "postgresql"),
            ("mongo-0", "mongodb"),
            ("MariaDB-primary-0", "mysql"),
        ] {
            assert_eq!(l.class_of_name(name), Some(class), "{name}");
        }
        // By image, in a pod named like no class.
        let p = with_containers("web-1", &[], &[("app", "docker.io/library/httpd:2.4")]);
        assert_eq!(l.container_claims(&p), [Class("apache")]);
        // By label value.
        let p = pod("x-1", &[("app", "MariaDB")]);
        assert_eq!(l.clone().with_label_key("app").claimed_class(&p), Some("mysql"));
        // An alias that is a class of its own is not used for another.
        let both = Labeler::from_list("mysql,mariadb");
        assert_eq!(both.class_of_name("mariadb-0"), Some("mariadb"));
        assert_eq!(both.names_of(0), ["mysql"]);
        // The default list's prefixes keep matching as before.
        let old = Labeler::from_list("mysql,nginx,apache,postgres,mongo");
        assert_eq!(old.class_of_name("postgresql-0"), Some("postgres"));
        assert_eq!(old.class_of_name("httpd-0"), Some("apache"));
        assert_eq!(old.class_of_name("redis-0"), None);
    }

    #[test]
    fn a_star_stands_for_any_run_of_characters() {
        for (pattern, text, matched) in [
            ("*exporter", "mysqld-exporter", true),
            ("*exporter", "EXPORTER", true),
            ("*exporter", "exporter-x", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("a**", "a", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("envoy", "Envoy", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
        ] {
            assert_eq!(wildcard_match(pattern, text), matched, "{pattern} {text}");
        }
    }

    proptest! {
        #[test]
        fn every_container_claims_a_class_a_sidecar_or_nothing(
            classes in prop::collection::vec("[a-z]{1,6}", 1..5),
            name in "[a-z0-9-]{0,20}",
            containers in prop::collection::vec(("[a-z-]{0,12}", "[a-z/:.-]{0,20}"), 0..4),
            label in proptest::option::of("[a-z]{0,6}"),
        ) {
            let l = Labeler::new(classes.clone()).with_label_key("app");
            let labels: Vec<(&str, &str)> = label.iter().map(|v| ("app", v.as_str())).collect();
            let c: Vec<(&str, &str)> = containers.iter().map(|(n, i)| (n.as_str(), i.as_str())).collect();
            let p = with_containers(&name, &labels, &c);
            let claims = l.container_claims(&p);
            prop_assert_eq!(claims.len(), p.containers.len());
            for (claim, c) in claims.iter().zip(&p.containers) {
                match claim {
                    ContainerClaim::Class(k) => prop_assert!(classes.iter().any(|x| x == k)),
                    ContainerClaim::Sidecar(_) => prop_assert!(l.sidecar_of(c).is_some()),
                    ContainerClaim::Nothing => {}
                }
            }
            // A single non-sidecar container that matches no class itself
            // claims what the pod claims.
            if p.containers.len() == 1 && l.sidecar_of(&p.containers[0]).is_none()
                && l.class_of_container(&p.containers[0]).is_none()
            {
                prop_assert_eq!(claims[0].class(), l.claimed_class(&p));
            }
        }

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
