//! The tiled optimization's spill file: what the first pass over the tiles leaves for the
//! second (each tile's ReLU masks, pooling choices and own features at the loss layers),
//! written to an unnamed temporary file so that the second pass reads it back instead of
//! running each tile forward again, without holding it in memory.
//!
//! A file that cannot be made, or a write that fails (a full disk), is not an error: the
//! tiles not written are run forward again in the second pass, as without a spill.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use bytemuck::Pod;

/// An unnamed file in a folder (removed by the system when dropped, or if the process dies),
/// written at its end and read at the places each write returned. One file serves every
/// evaluation of a run ([`Spill::rewind`]): written over, its pages are already the
/// system's, which saves clearing fresh ones.
#[derive(Debug)]
pub(crate) struct Spill {
    file: File,
    /// Where the next record starts.
    end: u64,
    /// Whether a write failed: the file was emptied, nothing more is written or read.
    full: bool,
}

impl Spill {
    /// A spill file in `folder`, or `None` where one cannot be made there.
    pub(crate) fn new(folder: &Path) -> Option<Self> {
        let file = tempfile::tempfile_in(folder).ok()?;
        Some(Spill {
            file,
            end: 0,
            full: false,
        })
    }

    /// Where the next record starts.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Starts writing from the file's start again (its earlier records are given up).
    pub(crate) fn rewind(&mut self) {
        self.end = 0;
    }

    /// Appends a record written by `write`; where it starts, or `None` when it could not be
    /// written (nothing is written or read after that).
    pub(crate) fn append(
        &mut self,
        write: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
    ) -> Option<u64> {
        if self.full {
            return None;
        }
        let at = self.end;
        let written = (|| {
            (&self.file).seek(SeekFrom::Start(at))?;
            let mut out = BufWriter::with_capacity(1 << 20, &self.file);
            write(&mut out)?;
            out.flush()?;
            drop(out);
            (&self.file).stream_position()
        })();
        match written {
            Ok(end) => {
                self.end = end;
                Some(at)
            }
            Err(_) => {
                // A full disk: give its room back (the output is still to be written) and
                // write nothing more in this run; the records written are lost with it.
                let _ = self.file.set_len(0);
                self.full = true;
                None
            }
        }
    }

    /// The record at `at`, read by `read`; `None` when it could not be read.
    pub(crate) fn read<T>(
        &self,
        at: u64,
        read: impl FnOnce(&mut BufReader<&File>) -> io::Result<T>,
    ) -> Option<T> {
        if self.full {
            return None;
        }
        (&self.file).seek(SeekFrom::Start(at)).ok()?;
        let mut input = BufReader::with_capacity(1 << 20, &self.file);
        read(&mut input).ok()
    }
}

/// Writes `values` with their count first.
pub(crate) fn write_values<T: Pod>(out: &mut impl Write, values: &[T]) -> io::Result<()> {
    out.write_all(&(values.len() as u64).to_le_bytes())?;
    out.write_all(bytemuck::cast_slice(values))
}

/// Reads values written by [`write_values`], at most `limit` of them.
pub(crate) fn read_values<T: Pod>(input: &mut impl Read, limit: usize) -> io::Result<Vec<T>> {
    read_values_in(input, limit, |len| vec![T::zeroed(); len])
}

/// Reads values written by [`write_values`], at most `limit` of them, into the vector
/// `take` gives for their count (of that length).
pub(crate) fn read_values_in<T: Pod>(
    input: &mut impl Read,
    limit: usize,
    take: impl FnOnce(usize) -> Vec<T>,
) -> io::Result<Vec<T>> {
    let len = read_u64(input)?;
    if len > limit as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a spilled record longer than its tile",
        ));
    }
    let mut values = take(len as usize);
    debug_assert_eq!(values.len(), len as usize);
    input.read_exact(bytemuck::cast_slice_mut(&mut values))?;
    Ok(values)
}

/// Writes one number.
pub(crate) fn write_u64(out: &mut impl Write, value: u64) -> io::Result<()> {
    out.write_all(&value.to_le_bytes())
}

/// Reads one number written by [`write_u64`].
pub(crate) fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written_and_a_missing_folder_gives_no_spill() {
        let mut spill = Spill::new(&std::env::temp_dir()).unwrap();
        let a: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        let b: Vec<u64> = (0..300).map(|i| i * 7).collect();
        let first = spill.append(|out| write_values(out, &a)).unwrap();
        let second = spill
            .append(|out| {
                write_u64(out, 42)?;
                write_values(out, &b)
            })
            .unwrap();
        assert_eq!(first, 0);
        assert_eq!(second, 8 + 4000);
        let back: Vec<u64> = spill
            .read(second, |input| {
                assert_eq!(read_u64(input)?, 42);
                read_values(input, 300)
            })
            .unwrap();
        assert_eq!(back, b);
        let back: Vec<f32> = spill.read(first, |input| read_values(input, 1000)).unwrap();
        assert_eq!(back, a);
        // A record longer than allowed is refused, not allocated.
        assert!(
            spill
                .read(first, |input| read_values::<f32>(input, 999))
                .is_none()
        );
        assert!(Spill::new(Path::new("/nonexistent/folder")).is_none());
        // A failed write (a full disk) empties the file: nothing more is written or read.
        let failed = spill.append(|out| {
            write_values(out, &a)?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "no room"))
        });
        assert!(failed.is_none());
        assert_eq!(spill.file.metadata().unwrap().len(), 0);
        assert!(
            spill
                .read(first, |input| read_values::<f32>(input, 1000))
                .is_none()
        );
        spill.rewind();
        assert!(spill.append(|out| write_values(out, &a)).is_none());
    }
}
