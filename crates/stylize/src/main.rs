//! `stylize`: neural style transfer from the command line.
//!
//! ```text
//! stylize [optimize] CONTENT STYLE [STYLE...] -o OUTPUT [flags]
//! stylize [optimize] CONTENT... --style-image STYLE... -o FOLDER [flags]
//! stylize fast CONTENT... [--style N[:W,...] | --style-image PAINTING] -o OUTPUT [flags]
//! stylize video INPUT [--style N | --style-image PAINTING] [--temporal S] -o OUTPUT [flags]
//! stylize video INPUT --shard I/N -o FRAMES; stylize join FRAMES --source INPUT -o OUTPUT
//! stylize fetch [vgg|fast|arbitrary|all]... [--dir DIR]
//! ```
//! This file parses the command line and hands it to the subcommand's module: [`optimize`],
//! [`fast`], [`video`] (with [`ffmpeg`]) and [`join`], [`download`]; [`batch`] and [`shard`] are the pictures of a run and its part,
//! for both modes. `stylize --help` lists the subcommands, `stylize optimize --help`
//! every flag with its default; the exit codes are in [`failure::Kind`].

mod batch;
mod cli;
mod download;
mod failure;
mod fast;
mod ffmpeg;
mod join;
mod optimize;
mod output;
mod plan;
mod progress;
mod record;
mod shard;
mod video;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, FetchArgs};
use download::run as fetch;

fn main() -> ExitCode {
    quiet_worker_panics();
    let cli = Cli::parse_from(cli::normalize(std::env::args_os()));
    let result = match cli.command {
        Command::Optimize(args) => optimize::run(args),
        Command::Fast(args) => fast::run(args),
        Command::Video(args) => video::run(args),
        Command::Join(args) => join::run(args),
        Command::Fetch(args) => fetch(args),
        Command::FetchWeights { dir } => fetch(FetchArgs {
            what: vec![cli::Download::Vgg],
            dir,
        }),
    };
    match result {
        Ok(code) => code,
        Err(failure) => failure.report(),
    }
}

/// GPU autotuning benchmarks candidate kernels on worker threads, and a candidate that does not
/// fit the device panics there and is dropped: the run goes on with the others and succeeds,
/// so the panic's message and backtrace would only alarm users. Panics on other threads than
/// the main one are silent unless `RUST_BACKTRACE` is set; the main thread's are reported as
/// usual.
fn quiet_worker_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let main = std::thread::current().name() == Some("main");
        if main || std::env::var_os("RUST_BACKTRACE").is_some() {
            default(info);
        }
    }));
}
