//! `convlab export CKPT --format pytorch|onnx`: the model for PyTorch (a state_dict and the
//! nn.Sequential that loads it) or for ONNX runtimes.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::error::{Result, write_atomic};
use crate::experiment::interchange::{check_new, to_onnx, to_pytorch};
use crate::run;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Pytorch,
    Onnx,
}

#[derive(Args)]
pub struct ExportArgs {
    checkpoint: PathBuf,
    /// pytorch: a state_dict (.pth) and the nn.Sequential code that loads it; onnx: the net
    /// in inference mode (opset 17).
    #[arg(long, value_enum)]
    format: Format,
    /// The file to write (default: the checkpoint's name with .pth or .onnx). For pytorch the
    /// net's code goes beside it as a .py file.
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let checkpoint = run::checkpoint_in(&a.checkpoint)?;
    let ext = match a.format {
        Format::Pytorch => "pth",
        Format::Onnx => "onnx",
    };
    let out = a.out.unwrap_or_else(|| checkpoint.with_extension(ext));
    check_new(&out, a.force)?;
    match a.format {
        Format::Pytorch => {
            let py = out.with_extension("py");
            check_new(&py, a.force)?;
            let code = to_pytorch(&checkpoint, &out)?;
            write_atomic(&py, code.as_bytes())?;
            println!("{code}");
            println!(
                "# wrote {} (state_dict) and {} (this code)",
                out.display(),
                py.display()
            );
        }
        Format::Onnx => {
            to_onnx(&checkpoint, &out)?;
            println!(
                "wrote {} (ONNX opset 17; input \"input\" [batch, C, H, W], output \"logits\")",
                out.display()
            );
        }
    }
    Ok(())
}
