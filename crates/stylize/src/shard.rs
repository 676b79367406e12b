//! Shards: which part of a batch this process paints, from `--shard I/N` or from a job
//! scheduler's environment (Slurm job arrays, Kubernetes Indexed Jobs), and the split itself.
//!
//! The split is deterministic: the batch's inputs sorted by path, and the one at position `k`
//! goes to shard `k mod N`. Every process given the same inputs and count computes the same
//! parts, whatever order the file system lists a folder in, so N processes on N machines
//! paint every picture exactly once without talking to each other. A video is split
//! instead into consecutive chunks of frames ([`chunk`]), each with a lead-in of a few frames
//! before it so that the chunks' borders do not jump.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::failure::Failure;

/// The environment variable that gives the number of shards where the scheduler's does not
/// (a Kubernetes Indexed Job: set it to the Job's `completions`).
pub const SHARDS_VARIABLE: &str = "STYLIZE_SHARDS";

/// Kubernetes' index of an Indexed Job's pod, from 0.
const KUBERNETES_INDEX: &str = "JOB_COMPLETION_INDEX";

/// One part of a batch: `index` (from 0) of `count`, and where that came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which part, from 0 to `count - 1`.
    pub index: usize,
    /// How many parts.
    pub count: usize,
    /// Where the part came from, for the run's first line (`--shard 1/4`,
    /// `SLURM_ARRAY_TASK_ID=2 - SLURM_ARRAY_TASK_MIN=1 of SLURM_ARRAY_TASK_COUNT=4`).
    pub source: String,
}

/// A `--shard I/N` value: part `I` (from 0) of `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardArg {
    /// Which part, from 0.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl FromStr for ShardArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let shape = || format!("`{s}` is not a shard: give I/N, part I (0 to N-1) of N, as 0/4");
        let (index, count) = s.split_once('/').ok_or_else(shape)?;
        let index: usize = index.trim().parse().map_err(|_| shape())?;
        let count: usize = count.trim().parse().map_err(|_| shape())?;
        check(index, count).map_err(|e| format!("--shard {s}: {e}"))?;
        Ok(ShardArg { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shard {}/{} (from {})",
            self.index, self.count, self.source
        )
    }
}

/// Refuses a part that does not exist: at least one shard, the index below the count.
fn check(index: usize, count: usize) -> Result<(), String> {
    if count == 0 {
        return Err("the number of shards must be at least 1".into());
    }
    if index >= count {
        return Err(format!(
            "shard {index} does not exist: shards of {count} are numbered 0 to {}",
            count - 1
        ));
    }
    Ok(())
}

/// This process's shard: from `--shard` when given, else from the scheduler's environment
/// (read through `var`), else none (the whole batch). `shards` is `--shards N`, the count
/// for an index without one (Kubernetes), also read from [`SHARDS_VARIABLE`]; a count that
/// disagrees with another source of the count is refused, as is an index without a count.
pub fn choose(
    shard: Option<ShardArg>,
    shards: Option<usize>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, Failure> {
    let usage = |message: String| Failure::usage(message);
    // The count given for the scheduler's index, from the flag or the variable.
    let variable_count = match var(SHARDS_VARIABLE) {
        Some(value) => Some(number(&value).filter(|&n| n > 0).ok_or_else(|| {
            usage(format!(
                "{SHARDS_VARIABLE}={value} is not a whole number of at least 1"
            ))
        })?),
        None => None,
    };
    if let (Some(flag), Some(env)) = (shards, variable_count)
        && flag != env
    {
        return Err(usage(format!(
            "--shards {flag} disagrees with {SHARDS_VARIABLE}={env}; give one or make them equal"
        )));
    }
    let given_count = shards
        .map(|n| (n, format!("--shards {n}")))
        .or(variable_count.map(|n| (n, format!("{SHARDS_VARIABLE}={n}"))));
    if let Some(arg) = shard {
        if let Some((count, from)) = &given_count
            && *count != arg.count
        {
            return Err(usage(format!(
                "--shard {}/{} disagrees with {from}; give one or make them equal",
                arg.index, arg.count
            )));
        }
        return Ok(Some(Shard {
            index: arg.index,
            count: arg.count,
            source: format!("--shard {}/{}", arg.index, arg.count),
        }));
    }
    let slurm = slurm(var)?;
    let kubernetes = var(KUBERNETES_INDEX);
    let shard = match (slurm, kubernetes) {
        (Some(_), Some(_)) => {
            return Err(usage(format!(
                "both SLURM_ARRAY_TASK_ID and {KUBERNETES_INDEX} are set; say which part this is with --shard I/N"
            )));
        }
        (Some(shard), None) => {
            if let Some((count, from)) = &given_count
                && *count != shard.count
            {
                return Err(usage(format!(
                    "{from} disagrees with the Slurm array's {} tasks; give one or make them equal",
                    shard.count
                )));
            }
            shard
        }
        (None, Some(value)) => {
            let index = number(&value).ok_or_else(|| {
                usage(format!("{KUBERNETES_INDEX}={value} is not a whole number"))
            })?;
            let Some((count, from)) = given_count else {
                return Err(usage(format!(
                    "{KUBERNETES_INDEX}={value} gives this pod's part but not how many parts there are: \
                     give --shards N or set {SHARDS_VARIABLE} to the Job's completions"
                )));
            };
            check(index, count)
                .map_err(|e| usage(format!("{KUBERNETES_INDEX}={value} with {from}: {e}")))?;
            Shard {
                index,
                count,
                source: format!("{KUBERNETES_INDEX}={value} of {from}"),
            }
        }
        (None, None) => {
            return match given_count {
                Some((_, from)) => Err(usage(format!(
                    "{from} gives the number of parts but not which one this is: give --shard I/N, \
                     or run under a Slurm array or a Kubernetes Indexed Job"
                ))),
                None => Ok(None),
            };
        }
    };
    Ok(Some(shard))
}

/// The shard of a Slurm job array's task: `(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
/// SLURM_ARRAY_TASK_STEP` of `SLURM_ARRAY_TASK_COUNT` (arrays may start at 1 and step);
/// `None` outside an array.
fn slurm(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Shard>, Failure> {
    const ID: &str = "SLURM_ARRAY_TASK_ID";
    let Some(id) = var(ID) else {
        return Ok(None);
    };
    let read = |name: &str, required: bool| -> Result<Option<usize>, Failure> {
        match var(name) {
            Some(value) => number(&value)
                .map(Some)
                .ok_or_else(|| Failure::usage(format!("{name}={value} is not a whole number"))),
            None if required => Err(Failure::usage(format!(
                "{ID}={id} is set but {name} is not: run inside a Slurm job array (sbatch --array), \
                 or give --shard I/N"
            ))),
            None => Ok(None),
        }
    };
    let task = read(ID, true)?.unwrap_or_default();
    let min = read("SLURM_ARRAY_TASK_MIN", true)?.unwrap_or_default();
    let count = read("SLURM_ARRAY_TASK_COUNT", true)?.unwrap_or_default();
    let step = read("SLURM_ARRAY_TASK_STEP", false)?.unwrap_or(1).max(1);
    let offset = task.checked_sub(min).filter(|o| o % step == 0);
    let index = offset
        .map(|o| o / step)
        .filter(|&i| check(i, count).is_ok());
    let Some(index) = index else {
        return Err(Failure::usage(format!(
            "the Slurm array task {task} (first {min}, step {step}, {count} tasks) is not one of an \
             evenly spaced range: give the array as a range (--array=0-{}) or --shard I/N",
            count.saturating_sub(1)
        )));
    };
    let source = match (min, step) {
        (0, 1) => format!("{ID}={task} of SLURM_ARRAY_TASK_COUNT={count}"),
        (_, 1) => {
            format!("{ID}={task} - SLURM_ARRAY_TASK_MIN={min} of SLURM_ARRAY_TASK_COUNT={count}")
        }
        _ => format!(
            "({ID}={task} - SLURM_ARRAY_TASK_MIN={min}) / SLURM_ARRAY_TASK_STEP={step} of SLURM_ARRAY_TASK_COUNT={count}"
        ),
    };
    Ok(Some(Shard {
        index,
        count,
        source,
    }))
}

fn number(value: &str) -> Option<usize> {
    value.trim().parse().ok()
}

/// The items of `shard` among `items` (each with its path): sorted by path, every
/// `shard.count`-th from position `shard.index`. Without a shard, all of them, sorted.
pub fn part<T>(mut items: Vec<T>, path: impl Fn(&T) -> &PathBuf, shard: Option<&Shard>) -> Vec<T> {
    items.sort_by(|a, b| path(a).as_os_str().cmp(path(b).as_os_str()));
    match shard {
        None => items,
        Some(shard) => items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % shard.count == shard.index)
            .map(|(_, item)| item)
            .collect(),
    }
}

/// The consecutive frames of `shard` among `frames` (numbered from 1): the first and the last
/// it writes, `None` when the shard has none (more shards than frames), and the first it
/// paints, up to `overlap` frames earlier (the lead-in that warms its temporal chain and that
/// `stylize join` fades from the previous chunk's frames). The chunks of `count` shards cover
/// every frame exactly once, in order, their sizes differing by at most one.
pub fn chunk(frames: u64, shard: &Shard, overlap: u64) -> Option<Chunk> {
    let (index, count) = (shard.index as u64, shard.count as u64);
    let first = index * frames / count + 1;
    let last = (index + 1) * frames / count;
    (first <= last).then(|| Chunk {
        lead: first.saturating_sub(overlap).max(1),
        first,
        last,
    })
}

/// A shard's frames of a video, numbered from 1, inclusive: it paints `lead..=last` and writes
/// `first..=last` as its own (the frames before `first` as the lead-in).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The first frame painted (the lead-in's first, or `first`).
    pub lead: u64,
    /// The first frame of the chunk.
    pub first: u64,
    /// The last frame of the chunk.
    pub last: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Kind;
    use std::collections::HashMap;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        move |name| map.get(name).map(|v| v.to_string())
    }

    fn chosen(
        shard: Option<&str>,
        shards: Option<usize>,
        pairs: &[(&str, &str)],
    ) -> Result<Option<(usize, usize)>, Failure> {
        let shard = shard.map(|s| s.parse::<ShardArg>().unwrap());
        choose(shard, shards, &env(pairs)).map(|s| s.map(|s| (s.index, s.count)))
    }

    fn refused(shard: Option<&str>, shards: Option<usize>, pairs: &[(&str, &str)], needle: &str) {
        let failure = chosen(shard, shards, pairs).expect_err(needle);
        assert_eq!(failure.kind, Kind::Usage, "{}", failure.message);
        assert!(
            failure.message.contains(needle),
            "{:?} lacks {needle:?}",
            failure.message
        );
    }

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn shard_values_are_parsed_and_checked() {
        assert_eq!(
            "2/4".parse::<ShardArg>(),
            Ok(ShardArg { index: 2, count: 4 })
        );
        assert_eq!(
            " 0 / 1 ".parse::<ShardArg>(),
            Ok(ShardArg { index: 0, count: 1 })
        );
        for (bad, needle) in [
            ("3/2", "numbered 0 to 1"),
            ("2/2", "numbered 0 to 1"),
            ("0/0", "at least 1"),
            ("a/2", "not a shard"),
            ("1/b", "not a shard"),
            ("-1/2", "not a shard"),
            ("1", "not a shard"),
            ("1/2/3", "not a shard"),
            ("", "not a shard"),
        ] {
            let error = bad.parse::<ShardArg>().expect_err(bad);
            assert!(error.contains(needle), "{bad}: {error}");
        }
    }

    #[test]
    fn without_flags_or_scheduler_there_is_no_shard() {
        assert_eq!(chosen(None, None, &[]).unwrap(), None);
        // A Slurm job that is not an array is one whole batch.
        assert_eq!(chosen(None, None, &[("SLURM_JOB_ID", "7")]).unwrap(), None);
    }

    #[test]
    fn slurm_arrays_give_index_and_count_from_any_start() {
        let array = |id: &str, min: &str, count: &str| {
            chosen(
                None,
                None,
                &[
                    ("SLURM_ARRAY_TASK_ID", id),
                    ("SLURM_ARRAY_TASK_MIN", min),
                    ("SLURM_ARRAY_TASK_COUNT", count),
                ],
            )
            .unwrap()
        };
        assert_eq!(array("0", "0", "4"), Some((0, 4)));
        assert_eq!(array("3", "0", "4"), Some((3, 4)));
        assert_eq!(array("1", "1", "4"), Some((0, 4)));
        assert_eq!(array("4", "1", "4"), Some((3, 4)));
        // --array=0-12:4 (tasks 0, 4, 8, 12).
        let stepped = chosen(
            None,
            None,
            &[
                ("SLURM_ARRAY_TASK_ID", "8"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "4"),
            ],
        );
        assert_eq!(stepped.unwrap(), Some((2, 4)));
        // --shards that agrees with the array is fine; one that disagrees is refused.
        let four = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(chosen(None, Some(4), &four).unwrap(), Some((1, 4)));
        refused(
            None,
            Some(3),
            &four,
            "disagrees with the Slurm array's 4 tasks",
        );
        // --shard wins over the environment.
        assert_eq!(chosen(Some("0/2"), None, &four).unwrap(), Some((0, 2)));
    }

    #[test]
    fn broken_slurm_environments_are_refused() {
        refused(
            None,
            None,
            &[("SLURM_ARRAY_TASK_ID", "2")],
            "SLURM_ARRAY_TASK_MIN is not",
        );
        refused(
            None,
            None,
            &[("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_MIN", "0")],
            "SLURM_ARRAY_TASK_COUNT is not",
        );
        refused(
            None,
            None,
            &[
                ("SLURM_ARRAY_TASK_ID", "two"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ],
            "SLURM_ARRAY_TASK_ID=two is not a whole number",
        );
        // --array=1,5,9 (not evenly spaced from its first): task 9 is past 3 tasks.
        refused(
            None,
            None,
            &[
                ("SLURM_ARRAY_TASK_ID", "9"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
            "evenly spaced range",
        );
    }

    #[test]
    fn kubernetes_indices_need_a_count() {
        let pod = [("JOB_COMPLETION_INDEX", "2")];
        assert_eq!(chosen(None, Some(3), &pod).unwrap(), Some((2, 3)));
        let with_variable = [("JOB_COMPLETION_INDEX", "2"), (SHARDS_VARIABLE, "3")];
        assert_eq!(chosen(None, None, &with_variable).unwrap(), Some((2, 3)));
        assert_eq!(chosen(None, Some(3), &with_variable).unwrap(), Some((2, 3)));
        refused(None, None, &pod, "give --shards N or set STYLIZE_SHARDS");
        refused(None, Some(2), &pod, "numbered 0 to 1");
        refused(
            None,
            Some(4),
            &with_variable,
            "--shards 4 disagrees with STYLIZE_SHARDS=3",
        );
        refused(
            None,
            None,
            &[("JOB_COMPLETION_INDEX", "x"), (SHARDS_VARIABLE, "3")],
            "JOB_COMPLETION_INDEX=x is not a whole number",
        );
        refused(
            None,
            None,
            &[("JOB_COMPLETION_INDEX", "0"), (SHARDS_VARIABLE, "0")],
            "STYLIZE_SHARDS=0 is not a whole number of at least 1",
        );
        refused(
            Some("0/2"),
            Some(3),
            &[],
            "--shard 0/2 disagrees with --shards 3",
        );
        refused(None, Some(3), &[], "not which one this is");
        refused(
            None,
            None,
            &[
                ("JOB_COMPLETION_INDEX", "0"),
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
            ],
            "both SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX",
        );
    }

    #[test]
    fn parts_are_disjoint_complete_and_independent_of_listing_order() {
        let names: Vec<String> = (0..23)
            .map(|i| format!("photos/{:03}.jpg", i * 7 % 23))
            .collect();
        let inputs = paths(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let mut sorted = inputs.clone();
        sorted.sort();
        for count in [1, 2, 3, 5, 23, 40] {
            let mut seen = Vec::new();
            for index in 0..count {
                let shard = Shard {
                    index,
                    count,
                    source: String::new(),
                };
                let mine = part(inputs.clone(), |p| p, Some(&shard));
                // The same part from the inputs listed in another order (stable under reruns).
                let mut reversed = inputs.clone();
                reversed.reverse();
                assert_eq!(part(reversed, |p| p, Some(&shard)), mine);
                // Parts differ in size by at most one.
                let size = mine.len();
                assert!(
                    size == 23 / count || size == 23usize.div_ceil(count),
                    "{size}"
                );
                seen.extend(mine);
            }
            seen.sort();
            assert_eq!(
                seen, sorted,
                "{count} shards cover every input exactly once"
            );
        }
        assert_eq!(part(inputs.clone(), |p| p, None), sorted);
    }

    #[test]
    fn chunks_cover_every_frame_once_in_order_with_lead_ins() {
        for frames in [1u64, 2, 7, 48, 1000] {
            for count in 1..=9usize {
                let mut next = 1;
                for index in 0..count {
                    let shard = Shard {
                        index,
                        count,
                        source: String::new(),
                    };
                    let Some(chunk) = chunk(frames, &shard, 3) else {
                        assert!(count as u64 > frames, "{frames} frames, {index}/{count}");
                        continue;
                    };
                    assert_eq!(chunk.first, next, "{frames} frames, {index}/{count}");
                    assert!(chunk.last >= chunk.first);
                    let size = chunk.last - chunk.first + 1;
                    assert!(size.abs_diff(frames / count as u64) <= 1);
                    assert_eq!(chunk.lead, chunk.first.saturating_sub(3).max(1));
                    next = chunk.last + 1;
                }
                assert_eq!(next, frames + 1, "{frames} frames in {count}");
            }
        }
    }
}
