//! The request mix: AdmissionReview files with weights, turned into a fixed, evenly interleaved
//! sequence so every run of the same mix sends the same proportions in the same order.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;

/// Largest sum of weights: the interleaved sequence holds one entry per unit of weight.
pub const MAX_TOTAL_WEIGHT: u32 = 100_000;

/// Why a request file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error("{spec:?}: the weight must be an integer from 1 to {MAX_TOTAL_WEIGHT}")]
    Weight { spec: String },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not JSON: {source}", path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: not an AdmissionReview: {what}", path.display())]
    NotAReview { path: PathBuf, what: &'static str },
    #[error("at least one --request file is needed")]
    Empty,
    #[error("the weights add up to more than {MAX_TOTAL_WEIGHT}")]
    TooHeavy,
}

/// One `--request PATH[:WEIGHT]` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub path: PathBuf,
    pub weight: u32,
}

impl RequestSpec {
    /// Splits `PATH[:WEIGHT]`; a suffix after the last `:` that is not all digits belongs to the path.
    pub fn parse(spec: &str) -> Result<RequestSpec, MixError> {
        match spec.rsplit_once(':') {
            Some((path, weight)) if !weight.is_empty() && weight.bytes().all(|b| b.is_ascii_digit()) => {
                let weight = weight
                    .parse::<u32>()
                    .ok()
                    .filter(|w| (1..=MAX_TOTAL_WEIGHT).contains(w))
                    .ok_or_else(|| MixError::Weight { spec: spec.into() })?;
                Ok(RequestSpec { path: path.into(), weight })
            }
            _ => Ok(RequestSpec { path: spec.into(), weight: 1 }),
        }
    }
}

/// A loaded request body.
#[derive(Debug, Clone)]
pub struct Request {
    /// File name, for reports.
    pub name: String,
    pub weight: u32,
    /// Compact JSON, as the API server sends it.
    pub body: Bytes,
}

/// Request bodies and the order to send them in.
#[derive(Debug, Clone)]
pub struct Mix {
    pub requests: Vec<Request>,
    /// Indexes into `requests`, one per unit of weight, interleaved.
    pub sequence: Vec<usize>,
}

impl Mix {
    /// Reads every file; each must be a JSON AdmissionReview with a request uid.
    pub fn load(specs: &[RequestSpec]) -> Result<Mix, MixError> {
        let requests = specs.iter().map(load_one).collect::<Result<Vec<_>, _>>()?;
        Mix::new(requests)
    }

    /// Builds the interleaved sequence for already loaded requests.
    pub fn new(requests: Vec<Request>) -> Result<Mix, MixError> {
        if requests.is_empty() {
            return Err(MixError::Empty);
        }
        let total: u64 = requests.iter().map(|r| u64::from(r.weight)).sum();
        if total > u64::from(MAX_TOTAL_WEIGHT) {
            return Err(MixError::TooHeavy);
        }
        let weights: Vec<u32> = requests.iter().map(|r| r.weight).collect();
        Ok(Mix { sequence: interleave(&weights), requests })
    }

    /// The request to send as the `n`-th of the run.
    pub fn nth(&self, n: usize) -> &Request {
        &self.requests[self.sequence[n % self.sequence.len()]]
    }
}

fn load_one(spec: &RequestSpec) -> Result<Request, MixError> {
    let path = &spec.path;
    let bytes = std::fs::read(path).map_err(|source| MixError::Read { path: path.clone(), source })?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|source| MixError::NotJson { path: path.clone(), source })?;
    check_review(path, &value)?;
    let body =
        serde_json::to_vec(&value).map_err(|source| MixError::NotJson { path: path.clone(), source })?;
    Ok(Request { name: file_name(path), weight: spec.weight, body: Bytes::from(body) })
}

fn check_review(path: &Path, value: &Value) -> Result<(), MixError> {
    let fail = |what| Err(MixError::NotAReview { path: path.to_path_buf(), what });
    if value.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return fail("kind is not \"AdmissionReview\"");
    }
    let Some(request) = value.get("request").filter(|r| r.is_object()) else {
        return fail("no request object");
    };
    if request.get("uid").and_then(Value::as_str).is_none_or(str::is_empty) {
        return fail("request.uid is missing or empty");
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Smooth weighted round robin: each item appears `weight` times, spread as evenly as possible.
pub fn interleave(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total.max(0) as usize);
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += i64::from(w);
        }
        let Some(best) = (0..weights.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i))) else {
            break;
        };
        current[best] -= total;
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_weights() {
        assert_eq!(RequestSpec::parse("a.json").unwrap(), RequestSpec { path: "a.json".into(), weight: 1 });
        assert_eq!(RequestSpec::parse("a.json:3").unwrap(), RequestSpec { path: "a.json".into(), weight: 3 });
        assert_eq!(RequestSpec::parse("c:/x:y.json").unwrap().path, PathBuf::from("c:/x:y.json"));
        assert_eq!(RequestSpec::parse("dir:/a.json:2").unwrap().path, PathBuf::from("dir:/a.json"));
        assert!(matches!(RequestSpec::parse("a.json:0"), Err(MixError::Weight { .. })));
        assert!(matches!(RequestSpec::parse("a.json:99999999999"), Err(MixError::Weight { .. })));
    }

    #[test]
    fn interleaves_by_weight() {
        assert_eq!(interleave(&[1, 1]), vec![0, 1]);
        assert_eq!(interleave(&[3, 1]), vec![0, 0, 1, 0]);
        let seq = interleave(&[5, 3, 2]);
        assert_eq!(seq.len(), 10);
        for (i, want) in [5, 3, 2].into_iter().enumerate() {
            assert_eq!(seq.iter().filter(|&&s| s == i).count(), want);
        }
        // never the same item three times in a row when another is due
        assert!(seq.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])), "{seq:?}");
    }

    #[test]
    fn picks_requests_in_sequence() {
        let req = |name: &str, weight| Request { name: name.into(), weight, body: Bytes::new() };
        let mix = Mix::new(vec![req("a", 2), req("b", 1)]).unwrap();
        let names: Vec<&str> = (0..6).map(|n| mix.nth(n).name.as_str()).collect();
        assert_eq!(names, ["a", "b", "a", "a", "b", "a"]);
        assert!(matches!(Mix::new(vec![]), Err(MixError::Empty)));
        assert!(matches!(Mix::new(vec![req("a", MAX_TOTAL_WEIGHT), req("b", 1)]), Err(MixError::TooHeavy)));
    }

    #[test]
    fn loads_reviews_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, "{\n \"kind\": \"AdmissionReview\",\n \"request\": {\"uid\": \"u1\"}\n}\n")
            .unwrap();
        let mix = Mix::load(&[RequestSpec { path: good.clone(), weight: 2 }]).unwrap();
        assert_eq!(mix.requests[0].name, "good.json");
        assert_eq!(&mix.requests[0].body[..], br#"{"kind":"AdmissionReview","request":{"uid":"u1"}}"#);

        let cases = [
            ("not-json.json", "{", "not JSON"),
            ("pod.json", r#"{"kind":"Pod"}"#, "kind is not"),
            ("no-request.json", r#"{"kind":"AdmissionReview"}"#, "no request object"),
            ("no-uid.json", r#"{"kind":"AdmissionReview","request":{"uid":""}}"#, "request.uid"),
        ];
        for (name, text, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = Mix::load(&[RequestSpec { path, weight: 1 }]).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(want), "{err}");
        }
        let missing = Mix::load(&[RequestSpec { path: dir.path().join("nope.json"), weight: 1 }]);
        assert!(matches!(missing, Err(MixError::Read { .. })));
    }
}
