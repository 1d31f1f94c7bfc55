//! drift: PSI by its definition on hand-made samples, and the whole loop
//! (run, append drifted days, drift FAIL, retrain) through the real binary.

use churn::model::profile::{ReferenceBin, categorical_reference, numeric_reference};
use churn::stages::drift::{Spec, measure};
use churn::store::Store;
use churn::store::drift::FeatureDrift;
use churn::store::models::{load_reference, store_reference};
use churn::store::status::Verdict;

use crate::common::{Sandbox, exec, rows, stderr, stdout};

/// Profiles the reference sample (table `drift_reference`: x double, cat
/// varchar) with `bins` quantile bins, stores the profile as model "ref",
/// and measures the current sample (table `drift_current`) against it.
fn measure_tables(store: &Store, run_id: &str, bins: u32, with_cat: bool) -> Vec<FeatureDrift> {
    let xs: Vec<f64> = rows(
        store,
        "select coalesce(x::double, 'nan'::double) from drift_reference",
    )
    .iter()
    .map(|r| r[0].parse().unwrap())
    .collect();
    let mut reference: Vec<ReferenceBin> = numeric_reference("x", "numeric", &xs, bins);
    if with_cat {
        let cats: Vec<Option<String>> = rows(store, "select coalesce(cat, '<NULL>') from drift_reference")
            .into_iter()
            .map(|r| Some(r[0].clone()).filter(|c| c != "<NULL>"))
            .collect();
        reference.extend(categorical_reference("cat", cats.iter().map(|c| c.as_deref())));
    }
    exec(store, "delete from model_reference_bins");
    store_reference(&store.conn, "ref", bins, &reference).unwrap();
    // The stored profile reads back as it was written.
    let mut stored = load_reference(&store.conn, "ref", bins).unwrap();
    let key = |b: &ReferenceBin| (b.feature.clone(), b.bin);
    stored.sort_by_key(key);
    reference.sort_by_key(key);
    assert_eq!(stored, reference);
    let spec = Spec {
        run_id: run_id.into(),
        model_id: "ref".into(),
        n_bins: bins,
        reference: &stored,
        warn_psi: 0.1,
        fail_psi: 0.25,
    };
    exec(store, "delete from drift_bins; delete from drift_results;");
    measure(&store.conn, &spec).unwrap()
}

/// Builds the two samples from SQL value lists of (x, cat) and measures PSI
/// of x (numeric, `bins` quantile bins) and cat (categorical).
fn psi(store: &Store, reference: &str, current: &str, bins: u32) -> Vec<FeatureDrift> {
    exec(
        store,
        &format!(
            "create or replace table drift_reference as select * from (values {reference}) as t(x, cat);
             create or replace table drift_current as select * from (values {current}) as t(x, cat);"
        ),
    );
    measure_tables(store, "r1", bins, true)
}

fn get<'a>(results: &'a [FeatureDrift], feature: &str) -> &'a FeatureDrift {
    results.iter().find(|f| f.feature == feature).unwrap()
}

fn values(xs: &[&str], cat: &str) -> String {
    xs.iter()
        .map(|x| format!("({x}::double, {cat})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn identical_samples_have_zero_psi() {
    let sb = Sandbox::new();
    let store = sb.store();
    let v = values(&["1", "2", "2", "3", "5", "8", "13", "NULL"], "'a'");
    let r = psi(&store, &v, &v, 4);
    assert_eq!(get(&r, "x").psi, 0.0);
    assert_eq!(get(&r, "cat").psi, 0.0);
    assert!(r.iter().all(|f| f.status == Verdict::Ok));
}

#[test]
fn four_bins_by_hand() {
    let sb = Sandbox::new();
    let store = sb.store();
    // Reference 1..8: quartile edges 2.75, 4.5, 6.25 (numpy linear), so the
    // bins (-inf, 2.75], (2.75, 4.5], (4.5, 6.25], (6.25, inf) hold 2 each.
    let reference = values(&["1", "2", "3", "4", "5", "6", "7", "8"], "'a'");
    // Current: 1 | 3 4 | 5 | 7 8 9 10 -> shares 1/8, 2/8, 1/8, 4/8.
    let current = values(&["1", "3", "4", "5", "7", "8", "9", "10"], "'a'");
    let r = psi(&store, &reference, &current, 4);
    // (1/8 - 1/4) ln(1/2) + 0 + (1/8 - 1/4) ln(1/2) + (1/2 - 1/4) ln 2 = ln(2) / 2
    let want = 0.5 * std::f64::consts::LN_2;
    assert!((get(&r, "x").psi - want).abs() < 1e-12, "{}", get(&r, "x").psi);
    assert_eq!(get(&r, "x").status, Verdict::Fail);
    let bins = rows(
        &store,
        "select bin, lower, upper, reference_count, current_count from drift_bins where feature = 'x' order by bin",
    );
    assert_eq!(
        bins,
        vec![
            vec!["1", "-inf", "2.75", "2", "1"],
            vec!["2", "2.75", "4.5", "2", "2"],
            vec!["3", "4.5", "6.25", "2", "1"],
            vec!["4", "6.25", "inf", "2", "4"],
        ]
    );
}

#[test]
fn values_on_an_edge_belong_to_the_lower_bin_in_both_samples() {
    let sb = Sandbox::new();
    let store = sb.store();
    // Median edge 2: (-inf, 2] holds 1, 2, 2 and (2, inf) holds 3, in the
    // reference (binned in Rust) and in the current sample (binned in SQL).
    let reference = values(&["1", "2", "2", "3"], "'a'");
    let current = values(&["2", "2", "2", "3"], "'a'");
    let r = psi(&store, &reference, &current, 2);
    assert_eq!(get(&r, "x").psi, 0.0);
    let bins = rows(
        &store,
        "select bin, upper, reference_count, current_count from drift_bins where feature = 'x' order by bin",
    );
    assert_eq!(bins, vec![vec!["1", "2.0", "3", "3"], vec!["2", "inf", "1", "1"]]);
}

#[test]
fn mass_moved_above_the_reference_maximum_is_caught() {
    let sb = Sandbox::new();
    let store = sb.store();
    let reference = "select (i % 1000)::double as x, 'a' as cat from range(10000) t(i)";
    // 70% as before, 30% far above anything the reference saw.
    let current = "select case when i < 7000 then (i % 1000)::double else 2000 + i end as x, 'a' as cat \
                   from range(10000) t(i)";
    exec(
        &store,
        &format!("create table drift_reference as {reference}; create table drift_current as {current};"),
    );
    let r = measure_tables(&store, "moved", 10, false);
    // Top bin 0.10 -> 0.37, nine bins 0.10 -> 0.07:
    // 0.27 ln 3.7 + 9 (-0.03) ln 0.7 = 0.4496
    let want = 0.27 * 3.7f64.ln() + 9.0 * -0.03 * 0.7f64.ln();
    assert!((get(&r, "x").psi - want).abs() < 1e-9, "{}", get(&r, "x").psi);
    assert!(get(&r, "x").psi >= 0.25);
    assert_eq!(get(&r, "x").status, Verdict::Fail);
}

#[test]
fn nulls_and_unseen_categories_count() {
    let sb = Sandbox::new();
    let store = sb.store();
    let reference = "(1::double, 'a'), (2, 'a'), (3, 'b'), (4, 'b')";
    // Half the values missing, half the categories never seen.
    let current = "(1::double, 'a'), (NULL, 'b'), (NULL, 'z'), (4, NULL)";
    let r = psi(&store, reference, current, 2);
    let x = get(&r, "x");
    assert_eq!((x.reference_nulls, x.current_nulls), (0, 2));
    // Edge 2.5: bins (-inf, 2.5] 2/4 -> 1/4, (2.5, inf) 2/4 -> 1/4, NULL 1e-4 -> 2/4.
    let clip: f64 = 1e-4;
    let want = 2.0 * (-0.25 * 0.5f64.ln()) + (0.5 - clip) * (0.5 / clip).ln();
    assert!((x.psi - want).abs() < 1e-12, "{} vs {want}", x.psi);
    // Categories a 2/4 -> 1/4, b 2/4 -> 1/4, z 0 -> 1/4, NULL 0 -> 1/4.
    let c = get(&r, "cat");
    let want = 2.0 * (-0.25 * 0.5f64.ln()) + 2.0 * (0.25 - clip) * (0.25 / clip).ln();
    assert!((c.psi - want).abs() < 1e-12, "{} vs {want}", c.psi);
    let cats = rows(
        &store,
        "select bin, coalesce(category, 'NULL'), reference_count, current_count from drift_bins \
         where feature = 'cat' order by bin",
    );
    assert_eq!(
        cats,
        vec![
            vec!["0", "NULL", "0", "1"],
            vec!["1", "a", "2", "1"],
            vec!["2", "b", "2", "1"],
            vec!["3", "z", "0", "1"],
        ]
    );
}

#[test]
fn a_constant_reference_does_not_crash() {
    let sb = Sandbox::new();
    let store = sb.store();
    let reference = values(&["5", "5", "5", "5"], "'a'");
    let current = values(&["5", "5", "6", "7"], "'a'");
    let r = psi(&store, &reference, &current, 10);
    // One edge (5): (-inf, 5] 1 -> 1/2, (5, inf) 1e-4 -> 1/2.
    let clip: f64 = 1e-4;
    let want = (0.5 - 1.0) * 0.5f64.ln() + (0.5 - clip) * (0.5 / clip).ln();
    assert!((get(&r, "x").psi - want).abs() < 1e-12);
    // An all-NULL reference: one open bin plus the NULL bin.
    let r = psi(
        &store,
        "(NULL::double, 'a'), (NULL, 'a')",
        "(1::double, 'a'), (NULL, 'a')",
        10,
    );
    let want = (0.5 - 1.0) * 0.5f64.ln() + (0.5 - clip) * (0.5 / clip).ln();
    assert!((get(&r, "x").psi - want).abs() < 1e-12);
}

/// The demo loop of the README on a small population, through the binary.
#[test]
fn run_append_drifted_days_drift_fails_and_retrain_decides() {
    let sb = Sandbox::new();
    let config = sb.write(
        "churn.toml",
        "[generate]\nusers = 400\ndays = 200\nseed = 3\n\n\
         [promote]\nmin_lift_over_baseline = -1.0\nmax_ece = 1.0\n\n\
         [generate.drift]\nstart_day = 200\nactivity_multiplier = 0.3\nwatch_minutes_multiplier = 0.4\n",
    );
    let c = config.to_str().unwrap();
    let out = sb.churn(&["--config", c, "run", "--drift-report", "base.json"]);
    // The synthetic world is a steady state: the first check passes.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("base.json")).unwrap()).unwrap();
    let psi_of = |report: &serde_json::Value, feature: &str| -> f64 {
        report["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"] == feature)
            .unwrap()["psi"]
            .as_f64()
            .unwrap()
    };

    // train stored the production model's reference profile; a model
    // without one gets it rebuilt from training_set by drift, bin for bin,
    // and the check measures the same PSI.
    let profile_sql = "select feature, kind, bin, lower, upper, category, reference_count \
                       from model_reference_bins join production_model using (model_id) \
                       where bins = 10 order by feature, bin";
    let store = sb.store();
    let trained = rows(&store, profile_sql);
    assert!(trained.len() > 100, "{trained:?}");
    exec(&store, "delete from model_reference_bins");
    drop(store);
    let out = sb.churn(&[
        "--config",
        c,
        "run",
        "--stage",
        "drift",
        "--drift-report",
        "again.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rebuilt = rows(&sb.store(), profile_sql);
    let differences: Vec<_> = trained
        .iter()
        .zip(&rebuilt)
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(
        rebuilt.len() == trained.len() && differences.is_empty(),
        "{} bins trained, {} rebuilt; first differences {differences:?}",
        trained.len(),
        rebuilt.len()
    );
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("again.json")).unwrap()).unwrap();
    assert_eq!(again["features"], base["features"]);
    assert_eq!(again["reference_rows"], base["reference_rows"]);

    let out = sb.churn(&["--config", c, "generate", "--append-days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sb.churn(&[
        "--config",
        c,
        "run",
        "--stage",
        "prepare",
        "--stage",
        "features",
        "--stage",
        "labels",
        "--stage",
        "training-set",
        "--stage",
        "score",
        "--stage",
        "drift",
        "--drift-report",
        "drifted.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "drift FAIL exits 2: {}", stderr(&out));
    assert!(stderr(&out).contains("drift FAIL"), "{}", stderr(&out));
    assert!(stdout(&out).contains("active_days_7d"), "{}", stdout(&out));
    let drifted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("drifted.json")).unwrap()).unwrap();
    assert_eq!(drifted["status"], "FAIL");
    for moved in ["active_days_7d", "watch_minutes_7d", "logins_14d"] {
        let (before, after) = (psi_of(&base, moved), psi_of(&drifted, moved));
        assert!(after >= 0.25, "{moved}: PSI {after} after the drift");
        assert!(after > 3.0 * before, "{moved}: PSI {before} -> {after}");
    }

    let store = sb.store();
    let stored = rows(
        &store,
        "select status, max_psi_feature, n_fail > 0 from drift_runs order by checked_at desc limit 1",
    );
    assert_eq!(stored[0][0], "FAIL");
    assert_eq!(stored[0][2], "true");
    drop(store);

    let out = sb.churn(&["--config", c, "run", "--stage", "retrain"]);
    assert!(
        out.status.success(),
        "retrain exits 0 either way: {}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("retrain: "), "{}", stdout(&out));
    let store = sb.store();
    let decision = rows(
        &store,
        "select p.decision, p.candidate_score is not null, p.production_score is not null, m.role \
         from model_promotions p join models m using (model_id) order by p.promoted_at desc limit 1",
    );
    assert!(
        ["promoted", "kept"].contains(&decision[0][0].as_str()),
        "{decision:?}"
    );
    assert_eq!(decision[0][1..], ["true", "true", "retrain"]);
    assert_eq!(
        rows(&store, "select count(*) from models where status = 'production'"),
        vec![vec!["1"]]
    );
}
