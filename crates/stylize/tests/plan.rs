//! Memory plans from the real `stylize` binary: printed in a run's first lines and alone with
//! `--dry-run` (text or JSON, nothing painted); runs past memory, past any plan, or with
//! bands below the network's smallest side refused before work with what to do, nothing
//! written.

mod support;

use tempfile::TempDir;

use support::{content, listing, s, small_png, style, stylize_in, succeeded};

const USAGE: i32 = 2;

#[test]
fn dry_run_prints_the_plan_and_paints_nothing() {
    let dir = TempDir::new().unwrap();
    let photo = small_png(dir.path(), "photo.png", &content());
    let painting = small_png(dir.path(), "painting.png", &style());
    let before = listing(dir.path());
    let fast = [
        "fast",
        s(&photo),
        "--style",
        "3",
        "-o",
        "out.png",
        "--dry-run",
    ];
    let text = succeeded(&fast, &stylize_in(dir.path(), &fast));
    assert!(
        text.contains("plan: 48x36, whole, peak memory about"),
        "{text}"
    );
    let json = |args: &[&str]| -> serde_json::Value {
        let out = succeeded(args, &stylize_in(dir.path(), args));
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let plan = json(&[&fast[..], &["--json"]].concat());
    assert_eq!(
        (plan["width"].as_u64(), plan["height"].as_u64()),
        (Some(48), Some(36))
    );
    assert!(plan["peak_bytes"].as_u64().unwrap() > 1 << 20, "{plan}");
    assert_eq!(plan["fits"], true);
    assert!(plan["band_rows"].is_null(), "{plan}");
    let banded = json(&[&fast[..], &["--json", "--tile", "16"]].concat());
    assert_eq!(banded["band_rows"].as_u64(), Some(16), "{banded}");
    let optimize = [
        s(&photo),
        s(&painting),
        "--size",
        "64",
        "--scales",
        "2",
        "-o",
        "out.png",
        "--dry-run",
        "--json",
    ];
    let plan = json(&optimize);
    assert_eq!(plan["width"].as_u64(), Some(64), "{plan}");
    let notes = plan["notes"].to_string();
    assert!(notes.contains("2 scale(s): 32x24, 64x48"), "{notes}");
    assert!(notes.contains("correction pairs"), "{notes}");
    // Tiles asked for: the plan says so, in text and JSON.
    let tiled = [
        s(&photo),
        s(&painting),
        "--size",
        "640",
        "--tile",
        "256",
        "-o",
        "out.png",
        "--dry-run",
        "--json",
    ];
    let plan = json(&tiled);
    assert_eq!(plan["tile_side"].as_u64(), Some(256), "{plan}");
    assert!(plan["notes"].to_string().contains("32 px halo"), "{plan}");
    let as_text: Vec<&str> = tiled.iter().copied().filter(|a| *a != "--json").collect();
    let text = succeeded(&as_text, &stylize_in(dir.path(), &as_text));
    assert!(text.contains("in tiles of 256x256"), "{text}");
    assert_eq!(listing(dir.path()), before, "a dry run wrote files");
    // A real run prints its plan first.
    let run = ["fast", s(&photo), "--style", "3", "-o", "out.png"];
    let out = stylize_in(dir.path(), &run);
    succeeded(&run, &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("plan: 48x36, whole"), "{stderr}");
}

#[test]
fn runs_no_plan_can_meet_are_refused_before_work() {
    let dir = TempDir::new().unwrap();
    let photo = small_png(dir.path(), "photo.png", &content());
    let painting = small_png(dir.path(), "painting.png", &style());
    let before = listing(dir.path());
    let (p, q) = (s(&photo), s(&painting));
    for (args, needle) in [
        // The whole picture past memory with bands turned off.
        (
            &["fast", p, "--size", "65535", "--tile", "off"][..],
            "--tile auto",
        ),
        // The optimization past memory: the largest size that fits.
        (
            &[p, q, "--size", "40000"],
            "largest that fits here is about",
        ),
        // Past any plan.
        (
            &["fast", p, "--size", "1000000"],
            "largest side any run can make",
        ),
        (
            &[p, q, "--size", "1000000"],
            "largest side any run can make",
        ),
        // Bands below the network's smallest side; tiles for the optimization.
        (&["fast", p, "--tile", "8"], "below the network's 16"),
        (
            &[p, q, "--tile", "32"],
            "below the smallest the optimization accepts",
        ),
        (
            &[p, q, "--tile", "64", "--tile-halo", "96"],
            "smaller than their 96 pixel halo",
        ),
        (
            &["fast", p, "--tile", "0"],
            "not auto, off or a number of rows",
        ),
        (
            &[p, q, "--tile", "64", "--tile-spill", "no-such-folder"],
            "no-such-folder is not a folder (or `off`)",
        ),
    ] {
        let args = [args, &["-o", "out.png"]].concat();
        let out = stylize_in(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(USAGE), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(listing(dir.path()), before, "{args:?} left files");
    }
}
