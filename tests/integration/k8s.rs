//! The commands of the Kubernetes manifests are real: every Job, CronJob and
//! Deployment container in k8s/ is parsed (command, args, env, the ConfigMap
//! it mounts) and run with the locally built binary against a temporary data
//! folder, in pipeline order; the API container is started and probed the way
//! the kubelet would, and the Dockerfile's HEALTHCHECK command is run too.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::rows;
use churn::store::{Access, Store};

/// The workloads in the order a fresh cluster runs them: the seed Job, then
/// one round of the CronJobs, then the data-arrival job and a second scoring
/// round on the arrived day. A Job or CronJob missing here fails the test, so
/// a new one cannot slip in untested.
const ORDER: [&str; 6] = [
    "churn-seed",
    "churn-score",
    "churn-drift",
    "churn-retrain",
    "churn-data-arrival",
    "churn-score",
];

/// The population is shrunk through the environment (a config layer above the
/// ConfigMap's file) so the pipeline runs in seconds; every other setting is
/// the ConfigMap's.
/// The promotion gate is opened too: a few hundred users make models too
/// noisy to judge (the gate has tests of its own).
const SMALL: [(&str, &str); 4] = [
    ("CHURN_GENERATE_USERS", "300"),
    ("CHURN_GENERATE_DAYS", "200"),
    ("CHURN_PROMOTE_MIN_LIFT_OVER_BASELINE", "-1.0"),
    ("CHURN_PROMOTE_MAX_ECE", "1.0"),
];

#[derive(Debug)]
struct Workload {
    kind: String,
    name: String,
    container: Yaml,
    volumes: Yaml,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifests() -> Vec<Yaml> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            YamlLoader::load_from_str(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", f.display()))
        })
        .collect()
}

fn workloads(docs: &[Yaml]) -> Vec<Workload> {
    let mut out = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let pod = match kind {
            "Job" | "Deployment" => &doc["spec"]["template"]["spec"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        let containers = pod["containers"].as_vec().expect("pod has containers");
        assert_eq!(containers.len(), 1, "one container per churn pod");
        out.push(Workload {
            kind: kind.to_string(),
            name: doc["metadata"]["name"].as_str().unwrap().to_string(),
            container: containers[0].clone(),
            volumes: pod["volumes"].clone(),
        });
    }
    out
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Where each mount path of a container lives in the sandbox: one folder per
/// PersistentVolumeClaim (shared by every pod, like the real volume), the
/// ConfigMap's keys written as files, a fresh folder per emptyDir.
fn mounts(
    sandbox: &Path,
    w: &Workload,
    config_maps: &HashMap<String, BTreeMap<String, String>>,
) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for m in w.container["volumeMounts"].as_vec().unwrap() {
        let name = m["name"].as_str().unwrap();
        let volume = w
            .volumes
            .as_vec()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("{}: volume {name} is mounted but not declared", w.name));
        let dir = if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            sandbox.join(format!("pvc-{claim}"))
        } else if let Some(cm) = volume["configMap"]["name"].as_str() {
            let dir = sandbox.join(format!("configmap-{cm}"));
            std::fs::create_dir_all(&dir).unwrap();
            for (key, text) in config_maps
                .get(cm)
                .unwrap_or_else(|| panic!("{}: ConfigMap {cm} is not in k8s/", w.name))
            {
                std::fs::write(dir.join(key), text).unwrap();
            }
            dir
        } else if volume["secret"]["optional"].as_bool() == Some(true) {
            // An optional Secret the cluster may not have: an empty folder.
            sandbox.join(format!("secret-{}-{name}", w.name))
        } else if let Some(secret) = volume["secret"]["secretName"].as_str() {
            // A required Secret, which the operator creates (k8s/README.md):
            // its one key, as kubectl would mount it.
            let dir = sandbox.join(format!("secret-{secret}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("token"), "a-test-token\n").unwrap();
            dir
        } else if !volume["emptyDir"].is_badvalue() {
            sandbox.join(format!("emptydir-{}-{name}", w.name))
        } else {
            panic!("{}: volume {name} has a kind this test does not know", w.name);
        };
        std::fs::create_dir_all(&dir).unwrap();
        out.push((m["mountPath"].as_str().unwrap().to_string(), dir));
    }
    // Longest mount path first, so /data/x is not mistaken for /data.
    out.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    out
}

/// Rewrites container paths in a string to their sandbox folders.
fn translate(text: &str, mounts: &[(String, PathBuf)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (mount, dir) in mounts {
            if let Some(after) = rest.strip_prefix(mount.as_str())
                && (after.is_empty() || after.starts_with(['/', ' ', '"', '\'', '\n']))
                && !out.ends_with(|c: char| c.is_alphanumeric() || c == '/' || c == '.')
            {
                out.push_str(dir.to_str().unwrap());
                rest = after;
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Every `churn ...` invocation a container makes: its args (the image's
/// entrypoint is the binary) or each `churn` line of a /bin/sh -c script.
fn invocations(w: &Workload) -> Vec<Vec<String>> {
    let command = strings(&w.container["command"]);
    let args = strings(&w.container["args"]);
    if command.is_empty() {
        return vec![args];
    }
    assert_eq!(
        command,
        ["/bin/sh", "-c"],
        "{}: a command other than the entrypoint must be a /bin/sh -c script",
        w.name
    );
    let script = args.join("\n");
    let found: Vec<Vec<String>> = script
        .lines()
        .map(|l| l.trim().trim_start_matches("exec ").trim())
        .filter(|l| l.starts_with("churn "))
        .map(|l| l.split_whitespace().skip(1).map(String::from).collect())
        .collect();
    assert!(!found.is_empty(), "{}: the script runs no churn command", w.name);
    found
}

fn env_of(w: &Workload, mounts: &[(String, PathBuf)]) -> Vec<(String, String)> {
    w.container["env"]
        .as_vec()
        .map(|v| {
            v.iter()
                .map(|e| {
                    let value = e["value"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{}: env values are literals", w.name));
                    (e["name"].as_str().unwrap().to_string(), translate(value, mounts))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A command for the container: the binary with the args, or /bin/sh with
/// the binary's folder first on PATH (the image puts /opt/churn there).
fn command_for(w: &Workload, mounts: &[(String, PathBuf)], addr: Option<&str>) -> Command {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_churn"));
    let command = strings(&w.container["command"]);
    let mut args: Vec<String> = strings(&w.container["args"])
        .iter()
        .map(|a| translate(a, mounts))
        .collect();
    if let Some(addr) = addr {
        let i = args
            .iter()
            .position(|a| a == "--addr")
            .expect("serve takes --addr")
            + 1;
        args[i] = addr.to_string();
    }
    let mut cmd = if command.is_empty() {
        let mut c = Command::new(&bin);
        c.args(&args);
        c
    } else {
        let mut c = Command::new(&command[0]);
        c.args(&command[1..]).args(&args);
        c
    };
    for (k, _) in std::env::vars() {
        if k.starts_with("CHURN_") {
            cmd.env_remove(k);
        }
    }
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path).envs(env_of(w, mounts)).envs(SMALL);
    // The image's WORKDIR is /data, the volume.
    let workdir = mounts
        .iter()
        .find(|(m, _)| m == "/data")
        .map(|(_, d)| d.clone())
        .expect("the data volume is mounted at /data");
    cmd.current_dir(workdir);
    cmd
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// GET on loopback; the status code, or None when nothing answers.
fn http_get(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn wait_for(port: u16, path: &str, want: u16, child: &mut Child) {
    let start = Instant::now();
    loop {
        if http_get(port, path) == Some(want) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the API exited ({status}) before {path} answered {want}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{path} never answered {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn probe_path(container: &Yaml, probe: &str) -> (String, u16) {
    let get = &container[probe]["httpGet"];
    let port = match &get["port"] {
        Yaml::Integer(p) => *p as u16,
        Yaml::String(name) => container["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
            .unwrap_or_else(|| panic!("{probe} names port {name}, which the container does not declare"))
            as u16,
        other => panic!("{probe} port {other:?}"),
    };
    (get["path"].as_str().unwrap().to_string(), port)
}

/// The Dockerfile's HEALTHCHECK command, as exec-form words.
fn healthcheck() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("the Dockerfile has a HEALTHCHECK");
    let json = &line[line.find("CMD").expect("HEALTHCHECK ... CMD [...]") + 3..];
    serde_json::from_str(json.trim()).expect("HEALTHCHECK CMD in exec form")
}

#[test]
fn every_manifest_command_runs_with_the_real_binary() {
    let docs = manifests();
    let config_maps: HashMap<String, BTreeMap<String, String>> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("ConfigMap"))
        .map(|d| {
            let data = d["data"]
                .as_hash()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap().to_string()))
                .collect();
            (d["metadata"]["name"].as_str().unwrap().to_string(), data)
        })
        .collect();
    let all = workloads(&docs);

    // Every invocation is a valid churn command line.
    for w in &all {
        for words in invocations(w) {
            let argv = std::iter::once("churn".to_string()).chain(words.iter().cloned());
            if let Err(e) = churn::commands::Cli::try_parse_from(argv) {
                panic!(
                    "{} runs `churn {}`, which churn refuses:\n{e}",
                    w.name,
                    words.join(" ")
                );
            }
        }
    }
    let mut jobs: Vec<&str> = all
        .iter()
        .filter(|w| w.kind != "Deployment")
        .map(|w| w.name.as_str())
        .collect();
    jobs.sort();
    let mut expected: Vec<&str> = ORDER.to_vec();
    expected.sort();
    expected.dedup();
    assert_eq!(
        jobs, expected,
        "every Job and CronJob of k8s/ is run by this test"
    );

    let sandbox = tempfile::tempdir().unwrap();
    for name in ORDER {
        let w = all.iter().find(|w| w.name == name).unwrap();
        let m = mounts(sandbox.path(), w, &config_maps);
        let out = command_for(w, &m, None).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{} ({}): {}",
            w.name,
            w.kind,
            show(&out)
        );
    }

    // What the jobs left in the volume: a production model, scores of the
    // arrived day, a drift check, and a retrain decision after a FAIL.
    let db = sandbox.path().join("pvc-churn-data").join("churn.duckdb");
    let store = Store::open_existing(&db, Access::ReadOnly, Duration::from_secs(30)).unwrap();
    let n_production = rows(&store, "select count(*) from production_model");
    assert_eq!(n_production[0][0], "1");
    // Beside the first model's test window (scored by the seed for
    // evaluate), the scoring rounds' days: the seed's last day, the arrived
    // day.
    let days = rows(
        &store,
        "select count(distinct as_of_date), max(as_of_date) = (select max(as_of_date) from user_features_daily) \
         from predictions p where as_of_date > (select min(test_to) from models)",
    );
    assert_eq!(
        days[0],
        ["2", "true"],
        "two scoring rounds, the last on the arrived day"
    );
    let drift = rows(
        &store,
        "select status from drift_runs order by checked_at desc limit 1",
    );
    let retrains = rows(
        &store,
        "select count(*) from model_promotions p join models m using (model_id) where m.role = 'retrain'",
    );
    // The drift job retrains only on FAIL; the weekly job always does.
    eprintln!(
        "last drift check: {}; retrain decisions: {}",
        drift[0][0], retrains[0][0]
    );
    let want = if drift[0][0] == "FAIL" { "2" } else { "1" };
    assert_eq!(retrains[0][0], want, "drift was {}", drift[0][0]);
    drop(store);

    // The API container: started as the Deployment says (on a free loopback
    // port instead of 8000), probed on its liveness and readiness paths, and
    // by the image's HEALTHCHECK command.
    let api = all
        .iter()
        .find(|w| w.kind == "Deployment")
        .expect("the API Deployment");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let m = mounts(sandbox.path(), api, &config_maps);
    let mut child = command_for(api, &m, Some(&format!("127.0.0.1:{port}")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (live, live_port) = probe_path(&api.container, "livenessProbe");
    let (ready, ready_port) = probe_path(&api.container, "readinessProbe");
    assert_eq!((live.as_str(), ready.as_str()), ("/live", "/ready"));
    assert_eq!(
        (live_port, ready_port),
        (8000, 8000),
        "probes target the serving port"
    );
    wait_for(port, &live, 200, &mut child);
    wait_for(port, &ready, 200, &mut child);

    let words = healthcheck();
    assert_eq!(words[0], "/opt/churn/churn", "HEALTHCHECK runs the binary");
    let args: Vec<String> = words[1..]
        .iter()
        .map(|w| w.replace("127.0.0.1:8000", &format!("127.0.0.1:{port}")))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "HEALTHCHECK {args:?}: {}", show(&out));
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_churn"))
        .args([
            "probe",
            &format!("http://127.0.0.1:{dead}/live"),
            "--timeout-s",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a probe of nothing fails: {}",
        show(&out)
    );

    // SIGTERM, as the kubelet stops a pod: the server drains and exits 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the API ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "after SIGTERM: {stderr}");
}

#[test]
fn paths_are_translated_only_at_mount_boundaries() {
    let m = vec![
        ("/etc/churn".to_string(), PathBuf::from("/tmp/cm")),
        ("/data".to_string(), PathBuf::from("/tmp/pvc")),
    ];
    assert_eq!(translate("/data/churn.duckdb", &m), "/tmp/pvc/churn.duckdb");
    assert_eq!(translate("--json /data/x.json", &m), "--json /tmp/pvc/x.json");
    assert_eq!(translate("/etc/churn/churn.toml", &m), "/tmp/cm/churn.toml");
    assert_eq!(translate("/database /x/data", &m), "/database /x/data");
}
