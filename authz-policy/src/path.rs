//! The path normalization Istio configures Envoy with before policies see the path
//! (MeshConfig `pathNormalization`; default `BASE`).

use std::borrow::Cow;

/// MeshConfig `pathNormalization.normalization`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathNormalization {
    /// The path is used as received.
    None,
    /// RFC 3986 dot-segment removal, `\` to `/`, and decoding of percent-encoded
    /// unreserved characters (Istio's default).
    #[default]
    Base,
    /// `Base`, then runs of `/` merged into one.
    MergeSlashes,
    /// `%2F` / `%5C` decoded first, then `MergeSlashes`.
    DecodeAndMergeSlashes,
}

/// A path Envoy refuses before any policy runs (it answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path contains {0}, which Envoy rejects with 400")]
pub struct RejectedPath(pub &'static str);

/// The path as policies see it: without query and fragment, normalized by `mode`.
///
/// ```
/// use authz_policy::path::{normalize, PathNormalization};
/// assert_eq!(normalize("/a/./b/../c?x=1", PathNormalization::Base).unwrap(), "/a/c");
/// assert_eq!(normalize("/data/%73ecret", PathNormalization::Base).unwrap(), "/data/secret");
/// assert_eq!(normalize("/data%2Fsecret", PathNormalization::Base).unwrap(), "/data%2Fsecret");
/// assert_eq!(normalize("/a//b", PathNormalization::MergeSlashes).unwrap(), "/a/b");
/// ```
pub fn normalize(raw: &str, mode: PathNormalization) -> Result<Cow<'_, str>, RejectedPath> {
    let end = raw.find(['?', '#']).unwrap_or(raw.len());
    let path = &raw[..end];
    // One pass to see whether anything needs doing: most paths are already normal.
    let bytes = path.as_bytes();
    let mut percent = false;
    let mut needs_work = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' => percent = true,
            b'\\' => needs_work = true,
            b'.' | b'/' if i > 0 && bytes[i - 1] == b'/' => needs_work = true,
            _ => {}
        }
    }
    if percent && contains_ignore_case(path, "%00") {
        return Err(RejectedPath("%00"));
    }
    if mode == PathNormalization::None || !(percent || needs_work) {
        return Ok(Cow::Borrowed(path));
    }
    let mut s = path.to_owned();
    if mode == PathNormalization::DecodeAndMergeSlashes {
        s = replace_ignore_case(&s, "%2f", "/");
        s = replace_ignore_case(&s, "%5c", "\\");
    }
    let s = decode_unreserved(&s.replace('\\', "/"));
    let mut s = remove_dot_segments(&s);
    if matches!(
        mode,
        PathNormalization::MergeSlashes | PathNormalization::DecodeAndMergeSlashes
    ) {
        while s.contains("//") {
            s = s.replace("//", "/");
        }
    }
    Ok(Cow::Owned(s))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

fn replace_ignore_case(s: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() {
        if bytes[i..].len() >= from.len()
            && bytes[i..i + from.len()].eq_ignore_ascii_case(from.as_bytes())
        {
            out.push_str(to);
            i += from.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    out
}

/// Decodes `%XX` when it encodes an unreserved character (ALPHA / DIGIT / `-._~`); other
/// escapes stay as they are. Decoding happens once (`%252e` stays `%2e`).
fn decode_unreserved(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c as char);
                    i += 3;
                    continue;
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// RFC 3986 5.2.4, on an absolute path; `..` above the root stays at the root.
fn remove_dot_segments(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        if i == 0 && absolute {
            continue;
        }
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                out.pop();
                trailing_slash = i == last;
            }
            other => {
                out.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut result = String::with_capacity(path.len());
    if absolute {
        result.push('/');
    }
    result.push_str(&out.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_normalization_cases_from_istio_docs() {
        let n = |p: &str| normalize(p, PathNormalization::Base).unwrap().into_owned();
        assert_eq!(n("/data/../data/secret"), "/data/secret");
        assert_eq!(n("/data//secret"), "/data//secret");
        assert_eq!(n("/data%2Fsecret"), "/data%2Fsecret");
        assert_eq!(n("/a/b/../../../c"), "/c");
        assert_eq!(n("/a\\b"), "/a/b");
        assert_eq!(n("/%41%2d%5F%7e"), "/A-_~");
        assert_eq!(n("/%252e"), "/%252e");
        assert_eq!(n("/a/."), "/a/");
        assert_eq!(n("/a/b/.."), "/a/");
        assert_eq!(n("/%2e%2e/x"), "/x");
        assert_eq!(n("/"), "/");
        assert_eq!(n("/p?x=/../y"), "/p");
        assert!(normalize("/a%00b", PathNormalization::Base).is_err());
        assert_eq!(
            normalize("/a/../b", PathNormalization::None).unwrap(),
            "/a/../b"
        );
        assert_eq!(
            normalize("/a%2F%2Fb/%5c", PathNormalization::DecodeAndMergeSlashes).unwrap(),
            "/a/b/"
        );
    }
}
