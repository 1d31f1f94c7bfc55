//! Prometheus metrics of the API (docs/design.md §6), labelled by the matched route,
//! never the raw URL, plus the process metrics.

use crate::store::status::Verdict;
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// What the gauges show of the loaded state (plain values: this module
/// knows nothing of how the state is held).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub model_id: String,
    pub pr_auc: f64,
    pub created_at_s: f64,
    pub drift_max_psi: Option<f64>,
    pub drift_status: Option<Verdict>,
    /// Realised PR-AUC of the last window, and its drop below the test PR-AUC.
    pub realised: Option<(f64, f64)>,
    /// When the served predictions slice was scored.
    pub predictions_scored_at_s: Option<f64>,
    /// (stage, last success, whether its last run failed).
    pub stage_runs: Vec<(String, Option<f64>, bool)>,
}

/// The HTTP methods counted by name; any other is "other", so made-up
/// methods cannot create series.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// How many routes `Metrics::request` keeps series at hand for.
pub const ROUTE_SLOTS: usize = 16;

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub predictions: IntCounter,
    pub model_info: IntGaugeVec,
    pub reloads: IntCounterVec,
    pub pr_auc: Gauge,
    pub model_created: Gauge,
    pub drift_max_psi: GaugeVec,
    pub drift_status: IntGaugeVec,
    pub realised_pr_auc: GaugeVec,
    pub realised_pr_auc_drop: GaugeVec,
    pub predictions_scored: Gauge,
    pub predictions_age: Gauge,
    pub stage_last_success: GaugeVec,
    pub stage_last_success_age: GaugeVec,
    pub stage_last_run_failed: IntGaugeVec,
    /// The scored time of the served slice, for the age at each scrape.
    scored_at: std::sync::Mutex<Option<f64>>,
    stage_success: std::sync::Mutex<Vec<(String, f64)>>,
    /// The series of each route's answered requests (its 200s and its
    /// latency), by route and method (GET, POST), made at the route's
    /// first 200 and kept: a request then touches its two series only,
    /// not the vectors' locks and maps (which every request took twice,
    /// shared by the worker threads).
    answered: Vec<[std::sync::OnceLock<(IntCounter, prometheus::Histogram)>; 2]>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Counts and times one request: `method` and `route` are its labels;
    /// `slot`, when given, is the route's index (below `ROUTE_SLOTS`),
    /// under which its answered requests' series are kept.
    pub fn request(
        &self,
        method: &'static str,
        route: &'static str,
        slot: Option<usize>,
        status: axum::http::StatusCode,
        seconds: f64,
    ) {
        let kept = match (slot, method, status) {
            (Some(slot), "GET" | "POST", axum::http::StatusCode::OK) => {
                self.answered.get(slot).map(|series| {
                    series[usize::from(method == "POST")].get_or_init(|| {
                        (
                            self.requests.with_label_values(&[method, route, "200"]),
                            self.duration.with_label_values(&[method, route]),
                        )
                    })
                })
            }
            _ => None,
        };
        match kept {
            Some((count, duration)) => {
                count.inc();
                duration.observe(seconds);
            }
            None => {
                self.requests
                    .with_label_values(&[method, route, status.as_str()])
                    .inc();
                self.duration.with_label_values(&[method, route]).observe(seconds);
            }
        }
    }

    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "churn_api_requests_total",
                "HTTP requests by method, matched route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "churn_api_request_duration_seconds",
                "HTTP request latency by method and matched route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let predictions = IntCounter::new(
            "churn_predictions_total",
            "Instances scored by /predict and /predict/batch",
        )
        .expect("valid metric");
        let model_info = IntGaugeVec::new(
            Opts::new("churn_model_info", "The production model being served (value 1)"),
            &["model_id"],
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new("churn_model_reloads_total", "Model reload attempts by result"),
            &["result"],
        )
        .expect("valid metric");
        let pr_auc =
            Gauge::new("churn_model_pr_auc", "Test PR-AUC of the served model").expect("valid metric");
        let model_created = Gauge::new(
            "churn_model_created_timestamp_seconds",
            "When the served model was trained (Unix seconds; its age is time() minus this)",
        )
        .expect("valid metric");
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let drift_max_psi = gauge_vec(
            "churn_drift_max_psi",
            "Largest PSI of the served model's last drift check (absent before its first check)",
            &["model_id"],
        );
        let drift_status = IntGaugeVec::new(
            Opts::new(
                "churn_drift_status",
                "The served model's last drift check: 1 on its status (OK, WARN, FAIL), 0 on the others",
            ),
            &["model_id", "status"],
        )
        .expect("valid metric");
        let realised_pr_auc = gauge_vec(
            "churn_realised_pr_auc",
            "Realised PR-AUC of the served model's last monitoring window (absent before one)",
            &["model_id"],
        );
        let realised_pr_auc_drop = gauge_vec(
            "churn_realised_pr_auc_drop",
            "How far the realised PR-AUC fell below the test PR-AUC (absent before a window)",
            &["model_id"],
        );
        let predictions_scored = Gauge::new(
            "churn_predictions_scored_timestamp_seconds",
            "When the served predictions slice was scored (Unix seconds; 0 before any)",
        )
        .expect("valid metric");
        let predictions_age = Gauge::new(
            "churn_predictions_age_seconds",
            "Seconds since the served predictions slice was scored (at scrape time; -1 before any)",
        )
        .expect("valid metric");
        predictions_age.set(-1.0);
        let stage_last_success = gauge_vec(
            "churn_stage_last_success_timestamp_seconds",
            "When each stage last ran to success, from pipeline_runs (Unix seconds)",
            &["stage"],
        );
        let stage_last_success_age = gauge_vec(
            "churn_stage_last_success_age_seconds",
            "Seconds since each stage last ran to success (at scrape time)",
            &["stage"],
        );
        let stage_last_run_failed = IntGaugeVec::new(
            Opts::new(
                "churn_stage_last_run_failed",
                "1 when a stage's latest run failed (an error, not a verdict such as drift FAIL)",
            ),
            &["stage"],
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(predictions.clone()),
            Box::new(model_info.clone()),
            Box::new(reloads.clone()),
            Box::new(pr_auc.clone()),
            Box::new(model_created.clone()),
            Box::new(drift_max_psi.clone()),
            Box::new(drift_status.clone()),
            Box::new(realised_pr_auc.clone()),
            Box::new(realised_pr_auc_drop.clone()),
            Box::new(predictions_scored.clone()),
            Box::new(predictions_age.clone()),
            Box::new(stage_last_success.clone()),
            Box::new(stage_last_success_age.clone()),
            Box::new(stage_last_run_failed.clone()),
        ] {
            registry.register(c).expect("metric registers once");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process metrics register once");
        Metrics {
            registry,
            requests,
            duration,
            predictions,
            model_info,
            reloads,
            pr_auc,
            model_created,
            drift_max_psi,
            drift_status,
            realised_pr_auc,
            realised_pr_auc_drop,
            predictions_scored,
            predictions_age,
            stage_last_success,
            stage_last_success_age,
            stage_last_run_failed,
            scored_at: std::sync::Mutex::new(None),
            stage_success: std::sync::Mutex::new(Vec::new()),
            answered: (0..ROUTE_SLOTS).map(|_| Default::default()).collect(),
        }
    }

    /// Points the gauges at a newly installed state.
    pub fn model_swapped(&self, g: &Gauges) {
        let id = g.model_id.as_str();
        self.model_info.reset();
        self.model_info.with_label_values(&[id]).set(1);
        self.pr_auc.set(g.pr_auc);
        self.model_created.set(g.created_at_s);
        self.drift_max_psi.reset();
        if let Some(psi) = g.drift_max_psi {
            self.drift_max_psi.with_label_values(&[id]).set(psi);
        }
        self.drift_status.reset();
        if let Some(status) = g.drift_status {
            for s in Verdict::ALL {
                self.drift_status
                    .with_label_values(&[id, s.as_str()])
                    .set(i64::from(*s == status));
            }
        }
        self.realised_pr_auc.reset();
        self.realised_pr_auc_drop.reset();
        if let Some((pr_auc, drop)) = g.realised {
            self.realised_pr_auc.with_label_values(&[id]).set(pr_auc);
            self.realised_pr_auc_drop.with_label_values(&[id]).set(drop);
        }
        self.predictions_scored
            .set(g.predictions_scored_at_s.unwrap_or(0.0));
        *self.scored_at.lock().unwrap_or_else(|e| e.into_inner()) = g.predictions_scored_at_s;
        self.stage_last_success.reset();
        self.stage_last_run_failed.reset();
        let mut success = Vec::new();
        for (stage, last, failed) in &g.stage_runs {
            if let Some(t) = last {
                self.stage_last_success.with_label_values(&[stage]).set(*t);
                success.push((stage.clone(), *t));
            }
            self.stage_last_run_failed
                .with_label_values(&[stage])
                .set(i64::from(*failed));
        }
        *self.stage_success.lock().unwrap_or_else(|e| e.into_inner()) = success;
    }

    /// Sets the ages from the timestamps, as of `now` (Unix seconds).
    pub fn refresh_ages(&self, now: f64) {
        let scored = *self.scored_at.lock().unwrap_or_else(|e| e.into_inner());
        self.predictions_age
            .set(scored.map_or(-1.0, |t| (now - t).max(0.0)));
        self.stage_last_success_age.reset();
        for (stage, t) in self
            .stage_success
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            self.stage_last_success_age
                .with_label_values(&[stage])
                .set((now - t).max(0.0));
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.refresh_ages(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}
