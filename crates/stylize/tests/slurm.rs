//! A real job scheduler, not only its variables: a private single-node Slurm
//! (`tests/slurm/local-slurm.sh`: Debian's slurm-wlm and munge, which `.ci/run` installs,
//! configured in a temporary folder and torn down after) runs a job array of `stylize` over a
//! folder of tiny photos. Every photo's result is written exactly once, each task says which
//! part it painted and where that came from, and the same array again paints nothing.
//!
//! Needs root (the daemons run as root, as on a machine of their own) and the two packages;
//! without them it fails saying so. One command runs it alone:
//! `cargo test --release -p stylize --test slurm`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use support::{images, s, small_png, style};

/// The script that starts and stops the private Slurm.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/slurm/local-slurm.sh")
}

/// A running private Slurm in `dir`, stopped when dropped (also when the test fails).
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        for program in ["slurmctld", "slurmd", "sbatch", "munged"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{program} is not installed: this test runs a real Slurm; install Debian's \
                 slurm-wlm and munge (apt-get install slurm-wlm munge; .ci/run does)"
            );
        }
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
        };
        let out = Command::new("bash")
            .arg(script())
            .args(["start", s(dir)])
            .output()
            .expect("run local-slurm.sh");
        assert!(
            out.status.success(),
            "the private Slurm did not start:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// `sbatch --wait` with `args`, in `workdir`; its exit status.
    fn sbatch(&self, workdir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("600")
            .arg("sbatch")
            .args(["--wait", "--quiet"])
            .args(args)
            .current_dir(workdir)
            .env("SLURM_CONF", &self.conf)
            .output()
            .expect("run sbatch")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", s(&self.dir)])
            .status();
    }
}

#[test]
fn a_slurm_job_array_paints_every_photo_once() {
    // Fetched here, through the same path as the run's, so that the tasks only read them.
    style_transfer::fetch::default_weights().expect("fetching the VGG19 weights");
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir(&photos).unwrap();
    let sources = ["tubingen.jpg", "golden_gate.jpg", "the_scream.jpg"];
    let expected: Vec<String> = (0..7)
        .map(|k| {
            let path = small_png(
                &photos,
                &format!("p{k}.png"),
                &images().join(sources[k % 3]),
            );
            s(&path).to_string()
        })
        .collect();
    let cluster = Cluster::start(&d.join("slurm"));
    let out = d.join("out");
    let (bin, st) = (env!("CARGO_BIN_EXE_stylize"), style());
    // An array from 1, as many scripts write it: the part is the task's place in it.
    let task = format!(
        "'{bin}' '{}' --style-image '{}' -o '{}' -n 2 -s 32 --json",
        s(&photos),
        s(&st),
        s(&out)
    );
    let logs = d.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = format!("{}/task-%a.txt", s(&logs));
    let args = ["--array=1-3", "--output", &log, "--wrap", &task];
    let submitted = cluster.sbatch(d, &args);
    let logs_text = read_logs(&logs);
    assert!(
        submitted.status.success(),
        "the array failed: {}\n{logs_text}",
        String::from_utf8_lossy(&submitted.stderr)
    );

    // Every photo painted by exactly one task, which says which part it is.
    let mut painted: BTreeMap<String, usize> = BTreeMap::new();
    for task in 1..=3 {
        let text = std::fs::read_to_string(logs.join(format!("task-{task}.txt"))).unwrap();
        let shard = format!(
            "shard {}/3 (from SLURM_ARRAY_TASK_ID={task} - SLURM_ARRAY_TASK_MIN=1 of SLURM_ARRAY_TASK_COUNT=3)",
            task - 1
        );
        assert!(text.contains(&shard), "task {task}: {text}");
        for line in text.lines().filter(|l| l.starts_with('{')) {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            *painted
                .entry(record["input"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let once: BTreeMap<String, usize> = expected.iter().map(|p| (p.clone(), 1)).collect();
    assert_eq!(
        painted, once,
        "each photo painted exactly once:\n{logs_text}"
    );
    let mut results = support::listing(&out);
    results.retain(|name| !name.starts_with('.'));
    assert_eq!(results.len(), 7, "{results:?}");

    // The same array again: every result is there, so no task paints anything.
    let again = cluster.sbatch(d, &args);
    let logs_text = read_logs(&logs);
    assert!(again.status.success(), "{logs_text}");
    assert_eq!(
        logs_text.matches("is already there").count(),
        7,
        "{logs_text}"
    );
    assert!(!logs_text.contains("\"mode\""), "{logs_text}");
}

/// Every task's log, for failure messages.
fn read_logs(dir: &Path) -> String {
    let mut text = String::new();
    for name in support::listing(dir) {
        let body = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        text.push_str(&format!("--- {name}\n{body}\n"));
    }
    text
}
