//! Image references and image sizes from the nodes' `status.images`.
//!
//! A pod spec names an image the way its author wrote it (`nginx`,
//! `nginx:1.25`, `library/nginx:1.25`, `docker.io/library/nginx:1.25`,
//! `nginx@sha256:…`, `localhost:5000/app:1`); a node lists the images it holds
//! by their fully qualified names (`docker.io/library/nginx:1.25`,
//! `docker.io/library/nginx@sha256:…`). [`ImageRef::parse`] brings both to the
//! same canonical form, so that `nginx` matches `docker.io/library/nginx:latest`
//! and never `nginx-exporter` (the old system's substring match did).
//!
//! Hand-written rather than taken from a crate: the rules are Docker's
//! reference grammar (`distribution/reference`), only the normalisation part
//! is needed, and the candidates (`oci-spec`, `docker_credential`) pull in much
//! more or do not normalise `docker.io/library/`.

use crate::error::K8sError;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// A normalised image reference: `registry/repository[:tag][@digest]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host (with port), `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path, with `library/` for Docker Hub's official images.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// The content digest (`sha256:…`), if given.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises an image reference. Also accepts the
    /// `docker-pullable://` and `docker://` prefixes of `containerStatuses[].imageID`.
    /// Returns `None` for an empty or malformed reference.
    pub fn parse(reference: &str) -> Option<ImageRef> {
        let mut s = reference.trim();
        for prefix in ["docker-pullable://", "docker://"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest;
            }
        }
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return None;
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !is_digest(d) {
                    return None;
                }
                (n, Some(d.to_ascii_lowercase()))
            }
            None => (s, None),
        };
        // The tag follows the last ':' that comes after the last '/': a ':'
        // before a '/' belongs to a registry port (`localhost:5000/app`).
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(c) if last_slash.is_none_or(|sl| c > sl) => {
                let (n, t) = (&name_tag[..c], &name_tag[c + 1..]);
                if !is_tag(t) {
                    return None;
                }
                (n, Some(t.to_owned()))
            }
            _ => (name_tag, None),
        };
        if name.is_empty() {
            return None;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_ascii_lowercase(), rest.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        if repository.is_empty() || repository.split('/').any(|c| c.is_empty() || !is_path_component(c)) {
            return None;
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            (t, _) => t,
        };
        Some(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl fmt::Display for ImageRef {
    /// The fully qualified form: `docker.io/library/nginx:1.25@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn is_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((algo, hex)) => {
            !algo.is_empty()
                && algo.chars().all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn is_tag(t: &str) -> bool {
    !t.is_empty() && t.len() <= 128 && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn is_path_component(c: &str) -> bool {
    c.chars().all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
}

/// Image sizes of one or more nodes, indexed by normalised name and by digest.
#[derive(Clone, Debug, Default)]
pub struct ImageIndex {
    by_tag: HashMap<(String, String, String), u64>,
    by_digest: HashMap<String, u64>,
}

impl ImageIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one node image: all names it is known by, and its size.
    pub fn insert<S: AsRef<str>>(&mut self, names: &[S], size_bytes: u64) {
        for n in names {
            let Some(r) = ImageRef::parse(n.as_ref()) else { continue };
            if let Some(d) = &r.digest {
                self.by_digest.insert(d.clone(), size_bytes);
            }
            if let Some(t) = r.tag {
                self.by_tag.insert((r.registry, r.repository, t), size_bytes);
            }
        }
    }

    /// Adds every image of a node's `status.images`.
    pub fn insert_node(&mut self, node: &Node) {
        let images = node.status.as_ref().and_then(|s| s.images.as_ref());
        for img in images.into_iter().flatten() {
            let (Some(names), Some(size)) = (&img.names, img.size_bytes) else {
                continue;
            };
            if let Ok(size) = u64::try_from(size) {
                self.insert(names, size);
            }
        }
    }

    /// The size of the image a container runs: by the digest of `image_id`
    /// (`containerStatuses[].imageID`) when given and known, otherwise by the
    /// spec's `image` (its digest, or its registry, repository and tag).
    pub fn size_of(&self, image: &str, image_id: Option<&str>) -> Option<u64> {
        let by_digest = |r: &ImageRef| r.digest.as_ref().and_then(|d| self.by_digest.get(d).copied());
        if let Some(size) = image_id
            .and_then(digest_of_image_id)
            .and_then(|d| self.by_digest.get(&d).copied())
        {
            return Some(size);
        }
        let r = ImageRef::parse(image)?;
        if let Some(size) = by_digest(&r) {
            return Some(size);
        }
        let tag = r.tag.clone()?;
        self.by_tag.get(&(r.registry, r.repository, tag)).copied()
    }

    /// Number of distinct (name, tag) and digest entries.
    pub fn len(&self) -> usize {
        self.by_tag.len() + self.by_digest.len()
    }

    /// Whether the index holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The digest in an `imageID`: `docker.io/library/nginx@sha256:…`,
/// `docker-pullable://nginx@sha256:…`, or a bare `sha256:…`.
fn digest_of_image_id(id: &str) -> Option<String> {
    if is_digest(id) {
        return Some(id.to_ascii_lowercase());
    }
    ImageRef::parse(id)?.digest
}

struct Cache {
    per_node: HashMap<String, ImageIndex>,
    all: ImageIndex,
    refreshed: Option<Instant>,
}

/// Resolves image sizes from the nodes' `status.images`, with a small cache
/// that is refreshed on a miss, at most once per `min_refresh`.
///
/// Needs `list` on `nodes` (a ClusterRole). Errors are logged and read as
/// "size unknown": image size is an optional feature, not worth failing a pod for.
#[derive(Clone)]
pub struct ImageSizeResolver {
    api: Api<Node>,
    node: Option<String>,
    min_refresh: Duration,
    cache: Arc<Mutex<Cache>>,
}

impl fmt::Debug for ImageSizeResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageSizeResolver")
            .field("node", &self.node)
            .field("min_refresh", &self.min_refresh)
            .finish_non_exhaustive()
    }
}

impl ImageSizeResolver {
    /// Default minimum time between two node listings.
    pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(30);

    /// A resolver over every node of the cluster.
    pub fn new(client: kube::Client) -> Self {
        ImageSizeResolver {
            api: Api::all(client),
            node: None,
            min_refresh: Self::DEFAULT_MIN_REFRESH,
            cache: Arc::new(Mutex::new(Cache {
                per_node: HashMap::new(),
                all: ImageIndex::new(),
                refreshed: None,
            })),
        }
    }

    /// Only look at one node (`metadata.name=<node>`), as a DaemonSet instance does.
    pub fn only_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The minimum time between two node listings.
    pub fn min_refresh(mut self, d: Duration) -> Self {
        self.min_refresh = d;
        self
    }

    /// Lists the nodes now and rebuilds the cache.
    pub async fn refresh(&self) -> Result<(), K8sError> {
        let mut cache = self.cache.lock().await;
        self.refresh_locked(&mut cache).await
    }

    async fn refresh_locked(&self, cache: &mut Cache) -> Result<(), K8sError> {
        cache.refreshed = Some(Instant::now());
        let mut lp = ListParams::default();
        if let Some(n) = &self.node {
            lp = lp.fields(&format!("metadata.name={n}"));
        }
        let nodes = self
            .api
            .list(&lp)
            .await
            .map_err(|e| K8sError::from_kube(e, "list", "nodes"))?;
        let mut per_node = HashMap::new();
        let mut all = ImageIndex::new();
        for node in &nodes.items {
            let mut idx = ImageIndex::new();
            idx.insert_node(node);
            all.insert_node(node);
            if let Some(name) = &node.metadata.name {
                per_node.insert(name.clone(), idx);
            }
        }
        tracing::debug!(nodes = nodes.items.len(), images = all.len(), "image sizes refreshed");
        cache.per_node = per_node;
        cache.all = all;
        Ok(())
    }

    fn lookup(cache: &Cache, node: Option<&str>, image: &str, image_id: Option<&str>) -> Option<u64> {
        node.and_then(|n| cache.per_node.get(n))
            .and_then(|idx| idx.size_of(image, image_id))
            .or_else(|| cache.all.size_of(image, image_id))
    }

    /// The size of `image` (with the container's `imageID`, if known) on
    /// `node` (or on any node). Lists the nodes again on a miss if the last
    /// listing is older than the minimum interval.
    pub async fn size_of(&self, node: Option<&str>, image: &str, image_id: Option<&str>) -> Option<u64> {
        let mut cache = self.cache.lock().await;
        if let Some(size) = Self::lookup(&cache, node, image, image_id) {
            return Some(size);
        }
        let stale = cache.refreshed.is_none_or(|t| t.elapsed() >= self.min_refresh);
        if !stale {
            return None;
        }
        if let Err(e) = self.refresh_locked(&mut cache).await {
            tracing::warn!(error = %e, "cannot read image sizes from the nodes");
            return None;
        }
        Self::lookup(&cache, node, image, image_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31";

    fn canon(s: &str) -> String {
        ImageRef::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_else(|| format!("<invalid {s}>"))
    }

    #[test]
    fn docker_hub_short_forms_normalise_to_one_name() {
        for s in [
            "nginx:1.25",
            "library/nginx:1.25",
            "docker.io/library/nginx:1.25",
            "index.docker.io/library/nginx:1.25",
            "docker.io/nginx:1.25",
        ] {
            assert_eq!(canon(s), "docker.io/library/nginx:1.25", "{s}");
        }
    }

    #[test]
    fn missing_tag_is_latest_but_digest_only_has_no_tag() {
        assert_eq!(canon("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(canon(&format!("nginx@{D}")), format!("docker.io/library/nginx@{D}"));
        assert_eq!(
            canon(&format!("nginx:1.25@{D}")),
            format!("docker.io/library/nginx:1.25@{D}")
        );
    }

    #[test]
    fn registry_with_port_is_not_a_tag() {
        let r = ImageRef::parse("localhost:5000/app:1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "app", Some("1"))
        );
        let r = ImageRef::parse("localhost:5000/team/app").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost:5000", Some("latest"))
        );
        assert_eq!(canon("localhost/app"), "localhost/app:latest");
        assert_eq!(canon("ghcr.io/org/app:v2"), "ghcr.io/org/app:v2");
        // A user namespace on Docker Hub is not a registry and gets no `library/`.
        assert_eq!(canon("bitnami/nginx:1"), "docker.io/bitnami/nginx:1");
    }

    #[test]
    fn image_id_prefixes_and_malformed_references() {
        assert_eq!(
            canon(&format!("docker-pullable://nginx@{D}")),
            format!("docker.io/library/nginx@{D}")
        );
        for bad in [
            "",
            " ",
            "nginx:",
            "nginx@sha256:xyz",
            "a//b",
            ":1.0",
            "nginx:bad tag",
            "/nginx",
        ] {
            assert!(ImageRef::parse(bad).is_none(), "{bad:?} should not parse");
        }
    }

    fn sample_index() -> ImageIndex {
        let mut idx = ImageIndex::new();
        idx.insert(
            &[
                format!("docker.io/library/nginx@{D}"),
                "docker.io/library/nginx:1.25".into(),
            ],
            100,
        );
        idx.insert(&["docker.io/nginx/nginx-prometheus-exporter:1.1".to_owned()], 7);
        idx.insert(&["docker.io/library/nginx-exporter:latest".to_owned()], 9);
        idx.insert(&["docker.io/library/nginx:latest".to_owned()], 101);
        idx.insert(&["localhost:5000/app:1".to_owned()], 55);
        idx
    }

    #[test]
    fn index_matches_exact_names_not_substrings() {
        let idx = sample_index();
        assert_eq!(idx.size_of("nginx:1.25", None), Some(100));
        assert_eq!(idx.size_of("library/nginx:1.25", None), Some(100));
        assert_eq!(idx.size_of("nginx", None), Some(101));
        assert_eq!(idx.size_of("nginx-exporter", None), Some(9));
        assert_eq!(idx.size_of("nginx:1.26", None), None);
        assert_eq!(idx.size_of("localhost:5000/app:1", None), Some(55));
        assert_eq!(idx.size_of("localhost:5000/app:2", None), None);
        assert_eq!(idx.size_of(&format!("nginx@{D}"), None), Some(100));
    }

    #[test]
    fn image_id_digest_wins_over_the_spec_tag() {
        let idx = sample_index();
        // The spec says `nginx` (latest = 101), but the container runs the 1.25 digest.
        assert_eq!(
            idx.size_of("nginx", Some(&format!("docker.io/library/nginx@{D}"))),
            Some(100)
        );
        assert_eq!(idx.size_of("nginx", Some(D)), Some(100));
        // An unknown imageID falls back to the spec.
        assert_eq!(
            idx.size_of("nginx", Some("sha256:ffffffffffffffffffffffffffffffffffffffff")),
            Some(101)
        );
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,8}([._-][a-z0-9]{1,4})?"
    }

    proptest! {
        #[test]
        fn short_and_long_docker_hub_forms_agree(repo in component(), tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}") {
            let long = format!("docker.io/library/{repo}:{tag}");
            prop_assert_eq!(canon(&format!("{repo}:{tag}")), long.clone());
            prop_assert_eq!(canon(&format!("library/{repo}:{tag}")), long.clone());
            prop_assert_eq!(canon(&long), long);
        }

        #[test]
        fn normalisation_is_idempotent(
            reg in proptest::option::of(("[a-z]{1,6}\\.[a-z]{2,3}", proptest::option::of(1u16..65535))),
            path in proptest::collection::vec(component(), 1..4),
            tag in proptest::option::of("[a-z0-9][a-z0-9.-]{0,6}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut s = String::new();
            if let Some((host, port)) = &reg {
                s.push_str(host);
                if let Some(p) = port { s.push_str(&format!(":{p}")); }
                s.push('/');
            }
            s.push_str(&path.join("/"));
            if let Some(t) = &tag { s.push(':'); s.push_str(t); }
            if let Some(d) = &digest { s.push_str("@sha256:"); s.push_str(d); }
            let once = ImageRef::parse(&s).expect("generated references are valid");
            let twice = ImageRef::parse(&once.to_string()).expect("canonical form parses");
            prop_assert_eq!(&once, &twice);
            prop_assert_eq!(once.tag.as_deref(), tag.as_deref().or(if digest.is_some() { None } else { Some("latest") }));
            if let Some((host, _)) = &reg { prop_assert!(once.registry.starts_with(host.as_str())); }
        }

        #[test]
        fn a_name_never_matches_a_longer_name_with_the_same_prefix(repo in component(), suffix in "-[a-z]{1,6}") {
            let mut idx = ImageIndex::new();
            idx.insert(&[format!("docker.io/library/{repo}{suffix}:latest")], 1);
            prop_assert_eq!(idx.size_of(&repo, None), None);
            idx.insert(&[format!("docker.io/library/{repo}:latest")], 2);
            prop_assert_eq!(idx.size_of(&repo, None), Some(2));
            prop_assert_eq!(idx.size_of(&format!("{repo}{suffix}"), None), Some(1));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = ImageRef::parse(&s);
        }
    }
}
