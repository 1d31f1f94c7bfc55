//! Prometheus metrics of the API (DESIGN §6), labelled by the matched route,
//! never the raw URL, plus the process metrics.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::api::state::Loaded;

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub predictions: IntCounter,
    pub model_info: IntGaugeVec,
    pub reloads: IntCounterVec,
    pub pr_auc: Gauge,
    pub model_created: Gauge,
    pub drift_max_psi: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
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
        let drift_max_psi = Gauge::new(
            "churn_drift_max_psi",
            "Largest PSI of the served model's last drift check (-1: none yet)",
        )
        .expect("valid metric");
        drift_max_psi.set(-1.0);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(predictions.clone()),
            Box::new(model_info.clone()),
            Box::new(reloads.clone()),
            Box::new(pr_auc.clone()),
            Box::new(model_created.clone()),
            Box::new(drift_max_psi.clone()),
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
        }
    }

    /// Points the model gauges at a newly installed model.
    pub fn model_swapped(&self, loaded: &Loaded) {
        self.model_info.reset();
        self.model_info
            .with_label_values(&[loaded.version.model_id.as_str()])
            .set(1);
        self.pr_auc.set(loaded.row.pr_auc);
        self.model_created
            .set(loaded.row.created_at.and_utc().timestamp() as f64);
        self.drift_max_psi.set(loaded.drift_max_psi.unwrap_or(-1.0));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8 metrics")
    }
}
