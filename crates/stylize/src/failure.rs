//! Why a run failed, as one line for the user and a documented exit code.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use style_transfer::Error;

/// The class of a failure; each has its own exit code (see `stylize --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The optimization or the device failed, or the output could not be written: exit 1.
    Runtime,
    /// A bad flag, value or output path: exit 2 (as clap's own usage errors).
    Usage,
    /// An input image, the weights or their fetch is unusable: exit 3.
    Input,
    /// Stopped with Ctrl-C after saving the current image: exit 130.
    Interrupted,
}

impl Kind {
    /// The process exit code of this kind.
    pub fn code(self) -> u8 {
        match self {
            Kind::Runtime => 1,
            Kind::Usage => 2,
            Kind::Input => 3,
            Kind::Interrupted => 130,
        }
    }
}

/// A failure: its kind and the message shown after `error: `.
#[derive(Debug)]
pub struct Failure {
    /// What class of failure it is.
    pub kind: Kind,
    /// One line (or a few) naming the file or flag and what to do.
    pub message: String,
}

impl Failure {
    /// A usage failure.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            kind: Kind::Usage,
            message: message.into(),
        }
    }

    /// A failure of kind `kind` to read or write `path`.
    pub fn io(kind: Kind, path: &Path, error: std::io::Error) -> Self {
        Failure {
            kind,
            message: format!("{}: {error}", path.display()),
        }
    }

    /// A library error met while reading inputs: configuration errors are usage errors,
    /// everything else is an input error.
    pub fn input(error: Error) -> Self {
        let kind = match error {
            Error::InvalidConfig { .. }
            | Error::DoesNotFit { .. }
            | Error::GpuBufferTooSmall { .. }
            | Error::UnknownLayer(_)
            | Error::BackendUnavailable { .. } => Kind::Usage,
            _ => Kind::Input,
        };
        Failure {
            kind,
            message: error.to_string(),
        }
    }

    /// A library error met while running or writing: configuration errors are usage errors,
    /// images too small for VGG19 input errors, the rest runtime errors.
    pub fn runtime(error: Error) -> Self {
        let kind = match error {
            Error::InvalidConfig { .. }
            | Error::DoesNotFit { .. }
            | Error::GpuBufferTooSmall { .. } => Kind::Usage,
            Error::ImageTooSmall { .. } => Kind::Input,
            _ => Kind::Runtime,
        };
        Failure {
            kind,
            message: error.to_string(),
        }
    }

    /// Prints the failure to stderr and returns its exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.message);
        ExitCode::from(self.kind.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
