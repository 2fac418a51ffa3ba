//! Observability of the HTTP layer: request ids, the request log and Prometheus metrics.
//!
//! Every request gets an id: the client's `X-Request-Id` when it sent a sane one (so a proxy's
//! id carries through), else a fresh random one. The id is echoed in the response's
//! `X-Request-Id` header and is a field of the tracing span the request runs in, so every log
//! line written while handling it (errors included) names it.
//!
//! `/metrics` serves the Prometheus text exposition format (version 0.0.4), written here:
//! request counts and a latency histogram by route template, method and status, plus the
//! number of targets and of open actions, read from the database when scraped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{ApiError, AppState};

/// Header carrying the request id, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Route label of requests that matched no route (keeps arbitrary paths out of the labels).
const UNMATCHED: &str = "unmatched";

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One time series: a (route, method, status) combination.
#[derive(Debug, Clone, Default)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Non-cumulative counts per bucket; the last slot is above the largest bound.
    buckets: [u64; BUCKETS.len() + 1],
}

/// The series of one route template: (method, status, series).
type RouteSeries = Vec<(&'static str, u16, Series)>;

/// Request counters and latency histograms. Cheap to update: one short mutex section and no
/// allocation once a series exists.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route template -> (method, status) -> series
    routes: Mutex<HashMap<String, RouteSeries>>,
}

/// A `'static` method name for the label, so recording never allocates.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        let method = method_label(method);
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let per_route = match routes.get_mut(route) {
            Some(v) => v,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let series = match per_route
            .iter()
            .position(|(m, s, _)| *m == method && *s == status)
        {
            Some(i) => &mut per_route[i].2,
            None => {
                per_route.push((method, status, Series::default()));
                &mut per_route.last_mut().expect("just pushed").2
            }
        };
        series.count += 1;
        series.sum_seconds += seconds;
        series.buckets[bucket] += 1;
    }

    /// Total requests recorded for a route template (all methods and statuses).
    pub fn request_count(&self, route: &str) -> u64 {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .get(route)
            .map_or(0, |v| v.iter().map(|(_, _, s)| s.count).sum())
    }

    /// Appends the request metrics in the text exposition format.
    fn render_requests(&self, out: &mut String) {
        let mut snapshot: Vec<(String, RouteSeries)> = {
            let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            routes.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        snapshot.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, v) in &mut snapshot {
            v.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        }
        out.push_str(
            "# HELP hawkbit_http_requests_total HTTP requests by route template, method and status.\n\
             # TYPE hawkbit_http_requests_total counter\n",
        );
        for (route, series) in &snapshot {
            let route = escape_label(route);
            for (method, status, s) in series {
                let _ = writeln!(
                    out,
                    "hawkbit_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                    s.count
                );
            }
        }
        out.push_str(
            "# HELP hawkbit_http_request_duration_seconds Time from request to response headers.\n\
             # TYPE hawkbit_http_request_duration_seconds histogram\n",
        );
        for (route, series) in &snapshot {
            let route = escape_label(route);
            for (method, status, s) in series {
                let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
                let mut cumulative = 0;
                for (i, bound) in BUCKETS.iter().enumerate() {
                    cumulative += s.buckets[i];
                    let _ = writeln!(
                        out,
                        "hawkbit_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "hawkbit_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                     hawkbit_http_request_duration_seconds_sum{{{labels}}} {}\n\
                     hawkbit_http_request_duration_seconds_count{{{labels}}} {}",
                    s.count, s.sum_seconds, s.count
                );
            }
        }
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A client-supplied request id is kept if it is 1 to 128 visible ASCII characters.
fn sane_request_id(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then_some(s)
}

fn new_request_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The route template a request matched, carried from the routing layer to [`observe`] in the
/// response's extensions.
#[derive(Debug, Clone)]
struct RouteLabel(MatchedPath);

/// Route layer: notes the matched route template on the response.
pub(super) async fn tag_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(m) = matched {
        resp.extensions_mut().insert(RouteLabel(m));
    }
    resp
}

/// Outermost middleware: assigns the request id, runs the request inside a span carrying it,
/// echoes it, logs the outcome and records the metrics. Only the path is logged, never headers
/// or query strings, so credentials cannot end up in the log.
pub(super) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = match req.headers().get(&REQUEST_ID).and_then(sane_request_id) {
        Some(s) => s.to_owned(),
        None => new_request_id(),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map_or(UNMATCHED, |r| r.0.as_str());
    state
        .metrics
        .record(route, &method, status, elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::debug!(
            %method,
            %path,
            status,
            elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::with_capacity(4096);
    state.metrics.render_requests(&mut out);
    let targets = state.store.count_targets().await?;
    let _ = writeln!(
        out,
        "# HELP hawkbit_targets Registered targets.\n# TYPE hawkbit_targets gauge\nhawkbit_targets {targets}"
    );
    out.push_str(
        "# HELP hawkbit_active_actions Open actions by state.\n# TYPE hawkbit_active_actions gauge\n",
    );
    for (st, n) in state.store.count_active_actions().await? {
        let _ = writeln!(out, "hawkbit_active_actions{{state=\"{st}\"}} {n}");
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_consistent() {
        let m = Metrics::default();
        m.record("/a/{id}", &Method::GET, 200, 0.0004);
        m.record("/a/{id}", &Method::GET, 200, 0.003);
        m.record("/a/{id}", &Method::GET, 200, 20.0);
        m.record("/a/{id}", &Method::POST, 404, 0.02);
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(out.contains(
            "hawkbit_http_requests_total{route=\"/a/{id}\",method=\"GET\",status=\"200\"} 3\n"
        ));
        let l = "route=\"/a/{id}\",method=\"GET\",status=\"200\"";
        assert!(out.contains(&format!("_bucket{{{l},le=\"0.0005\"}} 1\n")));
        assert!(out.contains(&format!("_bucket{{{l},le=\"0.005\"}} 2\n")));
        assert!(out.contains(&format!("_bucket{{{l},le=\"10\"}} 2\n")));
        assert!(out.contains(&format!("_bucket{{{l},le=\"+Inf\"}} 3\n")));
        assert!(out.contains(&format!("_count{{{l}}} 3\n")));
        assert_eq!(m.request_count("/a/{id}"), 4);
    }

    #[test]
    fn labels_are_escaped_and_ids_checked() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            sane_request_id(&HeaderValue::from_static("abc-123")),
            Some("abc-123")
        );
        assert_eq!(sane_request_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(new_request_id().len(), 16);
    }
}
