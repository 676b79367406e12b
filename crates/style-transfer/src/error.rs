//! The crate's error type: every failure says what went wrong and, where it can, what to do.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A layer name that is not one of VGG19's `conv1_1` .. `conv5_4`.
    #[error("unknown VGG19 layer `{0}`: use one of conv1_1, conv1_2, conv2_1, ..., conv5_4")]
    UnknownLayer(String),

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// An image file could not be decoded (not an image, truncated, unsupported format).
    #[error("{}: cannot read image: {source}", path.display())]
    ImageDecode {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },

    /// An image could not be encoded or written.
    #[error("{}: cannot write image: {source}", path.display())]
    ImageEncode {
        /// The output file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },

    /// An image (or a requested size) is smaller than a network can process.
    #[error("image of {width}x{height} is too small: {network} needs at least {min}x{min} pixels")]
    ImageTooSmall {
        /// The network that needs the size (`VGG19`, `the feed-forward network`).
        network: &'static str,
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// The smallest side accepted.
        min: usize,
    },

    /// A weights file was refused; `problem` says why.
    #[error("{}: not usable as VGG19 weights: {problem}", path.display())]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong with it.
        problem: WeightsProblem,
    },

    /// A feed-forward network's file was refused; `problem` says why.
    #[error("{}: not usable as {network}: {problem}", path.display())]
    FastWeights {
        /// The network's file.
        path: PathBuf,
        /// Which network it was read as.
        network: &'static str,
        /// What is wrong with it.
        problem: WeightsProblem,
    },
    /// Weights or a model could not be fetched or converted.
    #[error("cannot fetch {what}: {reason}\n{hint}")]
    Fetch {
        /// What was being fetched (`the VGG19 weights`, ...).
        what: &'static str,
        /// What failed.
        reason: String,
        /// What to do about it.
        hint: String,
    },

    /// A downloaded or written file does not have the expected SHA-256 sum.
    #[error("{}: SHA-256 is {actual}, expected {expected}; delete the file and fetch again", path.display())]
    Checksum {
        /// The file checked.
        path: PathBuf,
        /// The expected hex digest.
        expected: String,
        /// The digest found.
        actual: String,
    },

    /// A backend was asked for that this build does not include.
    #[error(
        "backend `{requested}` is not available in this build (available: {available}); enable its cargo feature"
    )]
    BackendUnavailable {
        /// The backend asked for.
        requested: String,
        /// The backends compiled in.
        available: String,
    },

    /// A GPU backend is compiled in but no usable device was found (no GPU, or no driver for
    /// it); `hint` says what to install.
    #[error("backend `{backend}` cannot start: {reason}; {hint}")]
    GpuUnavailable {
        /// The backend asked for (`wgpu`).
        backend: &'static str,
        /// What the driver or runtime reported.
        reason: String,
        /// What to install or set, or which backend to use instead.
        hint: &'static str,
    },

    /// A tensor handed to the library has the wrong shape.
    #[error("expected a tensor of shape {expected}, got {actual:?}")]
    Shape {
        /// A description of the expected shape.
        expected: String,
        /// The shape received.
        actual: Vec<usize>,
    },

    /// A loss term or the gradient became NaN or infinite during optimization.
    #[error(
        "the {term} became NaN or infinite at iteration {iteration}; lower the learning rate or the weights"
    )]
    NonFinite {
        /// The iteration (from 1).
        iteration: usize,
        /// The term: `content`, `style`, `tv`, `total` or `gradient`.
        term: &'static str,
    },

    /// The run's estimated peak memory (its [`crate::MemoryPlan`]) is more than the machine
    /// has for it.
    #[error(
        "{what} needs about {needed} of memory at its peak; this machine has {available} \
         available.\n{hint}"
    )]
    DoesNotFit {
        /// The run, with its size.
        what: String,
        /// The estimated peak.
        needed: String,
        /// What the machine has.
        available: String,
        /// What to do instead.
        hint: String,
    },

    /// A run on a GPU whose largest tensor would not fit in one of the adapter's buffers
    /// (whatever its memory): refused before work, since the runtime cannot allocate it.
    #[error(
        "{what} needs a GPU buffer of {needed} for {tensor}; this GPU's buffers hold at most \
         {largest}.\n{hint}"
    )]
    GpuBufferTooSmall {
        /// The run, with its size.
        what: String,
        /// The tensor that would not fit.
        tensor: &'static str,
        /// Its size.
        needed: String,
        /// The adapter's largest buffer.
        largest: String,
        /// What to do instead.
        hint: String,
    },

    /// The observer stopped the run (between the tiles of an evaluation) before any
    /// evaluation finished, so there is no image to return.
    #[error("stopped before the first evaluation finished: there is no image to return")]
    Stopped,

    /// A configuration value is out of range.
    #[error("invalid {name}: {reason}")]
    InvalidConfig {
        /// The setting concerned.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
}

/// Why a weights file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsProblem {
    /// The bytes are not an ONNX protobuf (or the file is truncated).
    #[error("not a readable ONNX model ({0}); pass the complete .onnx file")]
    NotOnnx(String),
    /// The graph does not have exactly 16 Conv nodes.
    #[error("found {found} Conv nodes, VGG19 has 16; pass a VGG19 (not VGG16 or another network)")]
    ConvCount {
        /// Number of Conv nodes found.
        found: usize,
    },
    /// A Conv's weight has the wrong shape for its position in VGG19.
    #[error("Conv #{index} ({layer}) has weight shape {found:?}, VGG19 needs {expected:?}")]
    ConvShape {
        /// 0-based Conv position in graph order.
        index: usize,
        /// The VGG19 layer it maps onto.
        layer: &'static str,
        /// The expected `[out, in, 3, 3]`.
        expected: [usize; 4],
        /// The shape found.
        found: Vec<usize>,
    },
    /// A Conv's attributes (stride, padding, dilation, groups) differ from VGG19's.
    #[error(
        "Conv #{index} ({layer}) has {attribute}; VGG19 uses 3x3 kernels, stride 1, padding 1, no dilation, one group"
    )]
    ConvAttribute {
        /// 0-based Conv position in graph order.
        index: usize,
        /// The VGG19 layer it maps onto.
        layer: &'static str,
        /// The attribute and its value.
        attribute: String,
    },
    /// A Conv input refers to a tensor that is not stored in the file.
    #[error("Conv #{index} ({layer}) input `{name}` has no initializer in the file")]
    MissingInitializer {
        /// 0-based Conv position in graph order.
        index: usize,
        /// The VGG19 layer it maps onto.
        layer: &'static str,
        /// The missing tensor's name.
        name: String,
    },
    /// A weight tensor is not float32/float16/float64.
    #[error("tensor `{name}` has element type {data_type}, expected a float type")]
    NotFloat {
        /// The tensor's name.
        name: String,
        /// The ONNX data type found.
        data_type: String,
    },
    /// A tensor's stored data does not match its declared shape.
    #[error("tensor `{name}` declares {declared} values but stores {stored}")]
    DataSize {
        /// The tensor's name.
        name: String,
        /// Element count from the dims.
        declared: usize,
        /// Element count actually stored.
        stored: usize,
    },
    /// A weight or bias holds NaN or infinity.
    #[error("tensor `{name}` contains NaN or infinite values")]
    NonFinite {
        /// The tensor's name.
        name: String,
    },
    /// A tensor the network needs is not in the file.
    #[error("tensor `{name}` is not in the file")]
    MissingTensor {
        /// The tensor's name.
        name: String,
    },
    /// A tensor has other dims than the network needs.
    #[error("tensor `{name}` has dims {dims:?}, the network needs {expected:?}")]
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The dims found.
        dims: Vec<i64>,
        /// The dims needed.
        expected: Vec<usize>,
    },
    /// The graph's operations differ from the network's (a stride, padding or group).
    #[error("the graph differs from the network: {0}")]
    Graph(String),
    /// The model declares an input convention this crate does not know.
    #[error("unknown input convention `{0}` in metadata (expected `caffe` or `torchvision`)")]
    UnknownConvention(String),
    /// A tensor's dims hold a different number of values than the network (VGG19 or a feed-forward network) needs there (a bias of
    /// the wrong length, say).
    #[error("tensor `{name}` has dims {dims:?}, the network needs {expected} values there")]
    TensorSize {
        /// The tensor's name.
        name: String,
        /// The dims found.
        dims: Vec<i64>,
        /// The number of values the network needs.
        expected: usize,
    },
    /// A tensor's external data `location` is absolute, climbs out with `..`, or resolves
    /// (through symbolic links) outside the folder of the ONNX file; ONNX only allows files
    /// inside that folder.
    #[error(
        "tensor `{name}` keeps its data at `{location}`, outside the model's folder; ONNX external data must be a relative path to a file beside the .onnx file (or below it): move the data file there and fix its location"
    )]
    ExternalOutsideModelDir {
        /// The tensor's name.
        name: String,
        /// The `location` as written in the file.
        location: String,
    },
    /// A tensor's external data `location` names a directory, device, pipe or socket rather
    /// than a regular file.
    #[error(
        "tensor `{name}` keeps its data at `{location}`, which is not a regular file; point it at the data file saved with the model"
    )]
    ExternalNotAFile {
        /// The tensor's name.
        name: String,
        /// The `location` as written in the file.
        location: String,
    },
    /// A tensor's external data file cannot be opened or read.
    #[error(
        "tensor `{name}` keeps its data in `{location}`, which cannot be read ({reason}); copy the data file saved with the model beside the .onnx file"
    )]
    ExternalUnreadable {
        /// The tensor's name.
        name: String,
        /// The `location` as written in the file.
        location: String,
        /// The operating system's error.
        reason: String,
    },
    /// A tensor's external data range (`offset`, and its size) goes beyond the end of the data
    /// file.
    #[error(
        "tensor `{name}` keeps {length} bytes at offset {offset} of `{location}`, but that file has {file_size} bytes; the data file is truncated or belongs to another model"
    )]
    ExternalRange {
        /// The tensor's name.
        name: String,
        /// The `location` as written in the file.
        location: String,
        /// The `offset` (0 when absent).
        offset: u64,
        /// The number of bytes the tensor needs.
        length: u64,
        /// The data file's size.
        file_size: u64,
    },
    /// A tensor's external data `length` differs from the size its dims and element type
    /// declare.
    #[error(
        "tensor `{name}` declares {length} bytes of external data, but its dims and element type need {expected}; the file is inconsistent, export it again"
    )]
    ExternalLength {
        /// The tensor's name.
        name: String,
        /// The `length` as written in the file.
        length: u64,
        /// Dims x element size.
        expected: u64,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn weights(path: impl Into<PathBuf>, problem: WeightsProblem) -> Self {
        Error::Weights {
            path: path.into(),
            problem,
        }
    }
}
