//! Batches on the real `stylize` binary: folders and lists of photos in the optimization mode,
//! runs that resume where they stopped (a batch killed with SIGKILL is finished by the same
//! command, with the same pictures byte for byte), shards (disjoint and complete, the same from
//! `--shard` as from Slurm's and Kubernetes' variables, two processes sharing one folder), and
//! the refusals of bad shards and output folders before any work.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use support::{content, images, listing, s, small_png, style, stylize_in, succeeded};

const USAGE: i32 = 2;
const INPUT: i32 = 3;

/// The scheduler variables a test run must not inherit from the machine it runs on.
const SCHEDULER: [&str; 6] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
    "STYLIZE_SHARDS",
];

/// `stylize` with `args` in `dir`, with exactly the scheduler variables `env`.
fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stylize"));
    command.args(args).current_dir(dir);
    for name in SCHEDULER {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run stylize")
}

/// A folder `name` in `dir` with `count` small, different photos `p0.png`, `p1.png`, ...
/// (crops of the example pictures).
fn photos(dir: &Path, name: &str, count: usize) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let sources = ["tubingen.jpg", "golden_gate.jpg", "the_scream.jpg"];
    for k in 0..count {
        let path = small_png(
            &folder,
            &format!("p{k}.png"),
            &images().join(sources[k % 3]),
        );
        // Each photo differs: a different crop of its source.
        let image = style_transfer::image_io::load_image(&path).unwrap();
        let crop = image::imageops::crop_imm(&image, (k / 3) as u32 * 4, 0, 40, 30).to_image();
        style_transfer::image_io::save_image(&crop, &path).unwrap();
    }
    folder
}

/// The visible files of `dir` with their bytes (hidden temporaries left by a killed process
/// are not results).
fn results(dir: &Path) -> Vec<(String, Vec<u8>)> {
    listing(dir)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The optimization takes a folder and more photos with --style-image: one result per good
/// photo in the output folder with one JSON record each, the unreadable one reported and the
/// run exiting 3 at the end; the same command again skips what is done; --format names the
/// results' type.
#[test]
fn optimize_paints_folders_and_lists_of_photos() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let folder = photos(d, "photos", 2);
    std::fs::write(folder.join("bad.jpg"), "not a JPEG").unwrap();
    let extra = small_png(d, "extra.png", &content());
    let (out, st) = (d.join("out"), style());
    let args = [
        s(&folder),
        s(&extra),
        "--style-image",
        s(&st),
        "-o",
        s(&out),
        "-n",
        "2",
        "-s",
        "32",
        "--json",
    ];
    let result = run(d, &args, &[]);
    let err = stderr(&result);
    assert_eq!(result.status.code(), Some(INPUT), "{err}");
    assert_eq!(listing(&out), ["extra.png", "p0.png", "p1.png"], "{err}");
    let bad = folder.join("bad.jpg");
    assert!(
        err.contains(&format!("error: {}: cannot read image", bad.display())),
        "{err}"
    );
    assert!(err.contains("1 of 4 pictures failed"), "{err}");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{stdout}");
    let inputs: BTreeSet<&str> = records
        .iter()
        .map(|r| r["input"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<String> = [folder.join("p0.png"), folder.join("p1.png"), extra.clone()]
        .iter()
        .map(|p| s(p).to_string())
        .collect();
    assert_eq!(inputs, expected.iter().map(String::as_str).collect());
    for record in &records {
        assert_eq!(record["mode"], "optimize", "{record}");
        assert_eq!(record["iterations"], 2, "{record}");
        assert_eq!(record["styles"], serde_json::json!([s(&st)]), "{record}");
        let input = Path::new(record["input"].as_str().unwrap());
        let output = out.join(input.file_name().unwrap());
        assert_eq!(record["output"], s(&output), "{record}");
        assert!(
            record["losses"]["total"].as_f64().unwrap() > 0.0,
            "{record}"
        );
    }

    // Again: every good result is there, so nothing is painted; the bad photo still fails.
    let again = run(d, &args, &[]);
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(INPUT), "{err}");
    assert_eq!(again.stdout, b"", "nothing new to report");
    for name in ["extra.png", "p0.png", "p1.png"] {
        let skipped = format!("{} is already there", out.join(name).display());
        assert!(err.contains(&skipped), "{name} skipped: {err}");
    }

    // --format jpg: the results' type; with one photo the file's extension says it instead.
    let jpgs = d.join("jpgs");
    let args = [
        s(&folder),
        "--style-image",
        s(&st),
        "-o",
        s(&jpgs),
        "-n",
        "1",
        "-s",
        "32",
        "--format",
        "jpg",
        "--quiet",
    ];
    let result = run(d, &args, &[]);
    assert_eq!(result.status.code(), Some(INPUT), "{}", stderr(&result));
    assert_eq!(listing(&jpgs), ["p0.jpg", "p1.jpg"]);
    let one = [s(&extra), s(&st), "-o", "one.png", "--format", "jpg"];
    let result = run(d, &one, &[]);
    assert_eq!(result.status.code(), Some(USAGE), "{}", stderr(&result));
    assert!(stderr(&result).contains("--format names the type"));
}

/// A batch killed with SIGKILL part-way (a pre-empted node) is finished by the same command:
/// the results already written are skipped, the rest painted, and the folder ends byte for
/// byte as an uninterrupted run's; a result cut short by some other copy is redone, and
/// --overwrite redoes everything.
#[test]
fn a_killed_batch_is_finished_by_the_same_command() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let folder = photos(d, "photos", 5);
    let st = style();
    let batch = |out: &str| -> Vec<String> {
        [
            s(&folder),
            "--style-image",
            s(&st),
            "-o",
            out,
            "-n",
            "15",
            "-s",
            "32",
        ]
        .map(String::from)
        .to_vec()
    };
    let whole_args = batch("whole");
    let whole_args: Vec<&str> = whole_args.iter().map(String::as_str).collect();
    succeeded(&whole_args, &run(d, &whole_args, &[]));
    let whole = results(&d.join("whole"));
    assert_eq!(whole.len(), 5);

    let cut_args = batch("cut");
    let cut_args: Vec<&str> = cut_args.iter().map(String::as_str).collect();
    let mut child = command(d, &cut_args, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cut = d.join("cut");
    let deadline = Instant::now() + Duration::from_secs(300);
    while results_or_none(&cut) < 2 {
        assert!(Instant::now() < deadline, "no result within 5 minutes");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = results(&cut);
    assert!(
        (2..5).contains(&before.len()),
        "killed part-way: {} results",
        before.len()
    );
    for (name, bytes) in &before {
        assert!(
            whole.contains(&(name.clone(), bytes.clone())),
            "{name} is complete and the same as the whole run's"
        );
    }

    let rerun = run(d, &cut_args, &[]);
    let err = stderr(&rerun);
    succeeded(&cut_args, &rerun);
    assert_eq!(
        err.matches("is already there").count(),
        before.len(),
        "each result of the killed run is skipped: {err}"
    );
    assert_eq!(err.matches("saved ").count(), 5 - before.len(), "{err}");
    assert_eq!(results(&cut), whole, "the folder ends as the whole run's");

    // A result cut short by a copy (not by stylize, which renames whole files into place)
    // does not decode, so it is redone.
    let p0 = cut.join("p0.png");
    let bytes = std::fs::read(&p0).unwrap();
    std::fs::write(&p0, &bytes[..bytes.len() / 2]).unwrap();
    let rerun = run(d, &cut_args, &[]);
    let err = stderr(&rerun);
    succeeded(&cut_args, &rerun);
    assert_eq!(err.matches("is already there").count(), 4, "{err}");
    assert_eq!(results(&cut), whole);

    let mut overwrite = cut_args.clone();
    overwrite.push("--overwrite");
    let rerun = run(d, &overwrite, &[]);
    let err = stderr(&rerun);
    succeeded(&overwrite, &rerun);
    assert!(!err.contains("already there"), "{err}");
    assert_eq!(err.matches("saved ").count(), 5, "{err}");
    assert_eq!(results(&cut), whole);
}

/// The number of visible results in `dir`, 0 while it does not exist.
fn results_or_none(dir: &Path) -> usize {
    match dir.is_dir() {
        true => results(dir).len(),
        false => 0,
    }
}

/// This shard's listing (`--list`): each line's input, after checking the line's form.
fn listed(d: &Path, args: &[&str], env: &[(&str, &str)]) -> (Vec<String>, String) {
    let out = run(d, args, env);
    let stdout = succeeded(args, &out);
    let inputs = stdout
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert!(["todo", "done"].contains(&fields[2]), "{line}");
            fields[0].to_string()
        })
        .collect();
    (inputs, stderr(&out))
}

/// Shards are disjoint and complete for any count; --list shows one without painting; the
/// same part comes from --shard, from a Slurm array's variables (starting at 1) and from a
/// Kubernetes index with its count; two shards run at once into one folder give the same
/// pictures, byte for byte, as one process.
#[test]
fn shards_split_a_batch_exactly_once() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let folder = photos(d, "photos", 5);
    let all: Vec<String> = (0..5)
        .map(|k| s(&folder.join(format!("p{k}.png"))).to_string())
        .collect();
    let fast = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["fast", s(&folder), "--style", "3", "-o", "out", "--list"];
        args.extend(extra);
        args.into_iter().map(String::from).collect()
    };
    let strs = |v: &[String]| v.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
    for count in [1, 2, 3, 7] {
        let mut seen = Vec::new();
        for index in 0..count {
            let shard = format!("{index}/{count}");
            let args = fast(&["--shard", &shard]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (mine, err) = listed(d, &args, &[]);
            assert!(
                err.contains(&format!("shard {shard} (from --shard {shard})")),
                "{err}"
            );
            if count == 3 {
                // The same part from Slurm (--array=1-3) and from Kubernetes.
                let (task, plain) = ((index + 1).to_string(), index.to_string());
                let list = fast(&[]);
                let list: Vec<&str> = list.iter().map(String::as_str).collect();
                let slurm = [
                    ("SLURM_ARRAY_TASK_ID", task.as_str()),
                    ("SLURM_ARRAY_TASK_MIN", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ];
                let (from_slurm, err) = listed(d, &list, &slurm);
                assert_eq!(from_slurm, mine, "Slurm task {task}");
                assert!(
                    err.contains(&format!("shard {shard} (from SLURM_ARRAY_TASK_ID={task}")),
                    "{err}"
                );
                let pod = [
                    ("JOB_COMPLETION_INDEX", plain.as_str()),
                    ("STYLIZE_SHARDS", "3"),
                ];
                let (from_pod, err) = listed(d, &list, &pod);
                assert_eq!(from_pod, mine, "pod {plain}");
                assert!(err.contains("from JOB_COMPLETION_INDEX="), "{err}");
            }
            seen.extend(mine);
        }
        seen.sort();
        assert_eq!(
            seen,
            all,
            "{count} shards: every photo exactly once ({})",
            strs(&seen)
        );
    }
    assert!(
        !d.join("out").exists(),
        "--list paints nothing, makes no folder"
    );

    // Two shards at once into one folder, as two machines would.
    let shard = |index: &str| {
        command(
            d,
            &[
                "fast",
                s(&folder),
                "--style",
                "3",
                "-o",
                "shared",
                "--shard",
                index,
                "-q",
            ],
            &[],
        )
        .spawn()
        .unwrap()
    };
    let (mut first, mut second) = (shard("0/2"), shard("1/2"));
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let one = ["fast", s(&folder), "--style", "3", "-o", "one", "-q"];
    succeeded(&one, &run(d, &one, &[]));
    assert_eq!(results(&d.join("shared")), results(&d.join("one")));
    assert_eq!(
        listing(&d.join("shared")).len(),
        5,
        "no temporaries left behind"
    );
}

/// A refusal to try: extra flags, scheduler variables, what the message says.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

/// Bad shards, scheduler variables that do not fit together, and output folders that cannot
/// be written are refused with exit 2 before any work: nothing is written, no folder made.
#[test]
fn bad_shards_and_output_folders_are_refused() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let folder = photos(d, "photos", 2);
    std::fs::write(d.join("file.txt"), "a file").unwrap();
    let st = style();
    let before = listing(d);
    let slurm_of_2 = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let cases: Vec<Case> = vec![
        (vec!["--shard", "3/2"], vec![], "numbered 0 to 1"),
        (vec!["--shard", "0/0"], vec![], "at least 1"),
        (vec!["--shard", "one/2"], vec![], "not a shard"),
        (vec!["--shard", "1"], vec![], "not a shard"),
        (vec!["--shards", "0"], vec![], "at least 1"),
        (
            vec![],
            vec![("JOB_COMPLETION_INDEX", "1")],
            "give --shards N or set STYLIZE_SHARDS",
        ),
        (vec!["--shards", "3"], slurm_of_2.to_vec(), "disagrees"),
        (vec!["--shard", "0/2", "--shards", "3"], vec![], "disagrees"),
        (
            vec![],
            vec![("JOB_COMPLETION_INDEX", "0"), ("STYLIZE_SHARDS", "x")],
            "STYLIZE_SHARDS=x",
        ),
        (vec!["--shards", "2"], vec![], "not which one this is"),
        (
            vec![],
            vec![("SLURM_ARRAY_TASK_ID", "1")],
            "SLURM_ARRAY_TASK_MIN is not",
        ),
    ];
    let modes: [Vec<&str>; 2] = [
        vec!["fast", s(&folder), "--style", "3", "-o", "out"],
        vec![
            s(&folder),
            "--style-image",
            s(&st),
            "-o",
            "out",
            "-n",
            "1",
            "-s",
            "32",
        ],
    ];
    for mode in &modes {
        for (extra, env, needle) in &cases {
            let mut args = mode.clone();
            args.extend(extra);
            let out = run(d, &args, env);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(USAGE), "{args:?} {env:?}: {err}");
            assert!(
                err.contains(needle),
                "{args:?} {env:?}: {needle:?} not in {err}"
            );
            assert_eq!(listing(d), before, "{args:?} {env:?} wrote something");
        }
        // An output folder that is a file, one that cannot be written (not even by root).
        for (output, needle) in [
            ("file.txt", "this is a file"),
            ("/sys/kernel", "cannot write into this output folder"),
            ("file.txt/sub", "cannot write into this output folder"),
        ] {
            let mut args = mode.clone();
            let o = args.iter().position(|a| *a == "-o").unwrap();
            args[o + 1] = output;
            let out = run(d, &args, &[]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(USAGE), "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
            assert_eq!(listing(d), before, "{args:?} wrote something");
        }
    }
    // Two photos with one name would overwrite each other's result.
    small_png(d, "p0.jpg", &content());
    let before = listing(d);
    let args = ["fast", s(&folder), "p0.jpg", "-o", "out"];
    let out = stylize_in(d, &args);
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("would both be written to"),
        "{}",
        stderr(&out)
    );
    assert_eq!(listing(d), before);
    // The optimization without a style image.
    let args = [s(&folder), "-o", "out"];
    let out = stylize_in(d, &args);
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(stderr(&out).contains("no style image"), "{}", stderr(&out));
}
