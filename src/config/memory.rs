//! DuckDB's share of the machine: the memory limit of `[store]`, from the
//! machine's memory or the container's cgroup limit.

use super::StoreConfig;

impl StoreConfig {
    /// The memory limit to give DuckDB: the setting, or 40% of the machine.
    pub fn effective_memory_limit(&self) -> String {
        if !self.memory_limit.trim().is_empty() {
            return self.memory_limit.trim().to_string();
        }
        format!("{}MB", machine_memory() / 10 * 4 / (1 << 20))
    }

    /// DuckDB's memory limit in the stages whose work is in Rust (train,
    /// promote, score, drift, the served report): there DuckDB only streams rows out, and a cache the
    /// size of `effective_memory_limit` would sit beside the model's
    /// matrices (at a million users, 9.6 GB of cached blocks beside 5 GB of
    /// training rows). A tenth of the machine (or pod), at least 256 MB; `None` when
    /// `store.memory_limit` is set (the operator's figure is kept).
    pub fn streaming_memory_limit(&self) -> Option<String> {
        if !self.memory_limit.trim().is_empty() {
            return None;
        }
        Some(format!(
            "{}MB",
            (machine_memory() / 10).max(256 << 20) / (1 << 20)
        ))
    }
}

/// The machine's memory in bytes, or the container's cgroup limit when
/// that is lower (v2, then v1).
fn machine_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let cgroup = limit_files(&own)
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .min();
    memory_share(total, cgroup)
}

/// The files that may hold the memory limit: the container's (its cgroup
/// mounted at the root, v2 then v1) and those of the process's own cgroup,
/// from /proc/self/cgroup (a pod's cgroup seen from the host, or one a
/// benchmark runs a command in).
fn limit_files(proc_self_cgroup: &str) -> Vec<String> {
    let mut files = vec![
        "/sys/fs/cgroup/memory.max".to_string(),
        "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string(),
    ];
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let path = path.unwrap_or("/").trim_end_matches('/');
        if path.is_empty() {
            continue;
        }
        match controllers {
            Some("") => files.push(format!("/sys/fs/cgroup{path}/memory.max")),
            Some(c) if c.split(',').any(|c| c == "memory") => {
                files.push(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"));
            }
            _ => {}
        }
    }
    files
}

/// The machine's memory, or the cgroup's limit when that is lower (a limit
/// of "max" or v1's huge number means none).
fn memory_share(total_bytes: u64, cgroup_bytes: Option<u64>) -> u64 {
    cgroup_bytes.map_or(total_bytes, |c| c.min(total_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_own_cgroup_is_read_too() {
        let files = limit_files("12:pids:/x\n4:memory:/churnbench\n0::/kubepods/pod1\n");
        assert!(files.contains(&"/sys/fs/cgroup/memory/churnbench/memory.limit_in_bytes".to_string()));
        assert!(files.contains(&"/sys/fs/cgroup/kubepods/pod1/memory.max".to_string()));
        assert_eq!(limit_files("0::/\n").len(), 2, "the root is already read");
    }

    #[test]
    fn the_memory_share_follows_a_container_limit() {
        let gib = 1u64 << 30;
        assert_eq!(memory_share(10 * gib, None), 10 * gib);
        assert_eq!(memory_share(10 * gib, Some(5 * gib)), 5 * gib);
        // cgroup v1 without a limit reports a number beyond the machine.
        assert_eq!(memory_share(10 * gib, Some(u64::MAX / 2)), 10 * gib);
        let s = StoreConfig::default();
        let mb = |v: String| v.trim_end_matches("MB").parse::<u64>().unwrap();
        let (all, streaming) = (
            mb(s.effective_memory_limit()),
            mb(s.streaming_memory_limit().unwrap()),
        );
        assert!(
            streaming >= 256 && streaming < all.max(257),
            "{streaming} MB vs {all} MB"
        );
        let set = StoreConfig {
            memory_limit: " 6GB ".into(),
            ..StoreConfig::default()
        };
        assert_eq!(set.effective_memory_limit(), "6GB");
        assert_eq!(set.streaming_memory_limit(), None);
    }
}
