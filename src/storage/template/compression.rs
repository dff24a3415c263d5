//! Which compression wraps a template, told from its first bytes rather than its suffix (a
//! renamed or mislabelled download still extracts), and the matching decoder.

use std::io::{self, BufRead, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// How many leading bytes [`Compression::detect`] looks at.
pub(super) const MAGIC_LEN: usize = 6;

impl Compression {
    /// The compression of a stream starting with `magic`. Formats pct knows but corral does
    /// not decode are named in the error; anything unrecognised is taken as a plain tar and
    /// left to the tar reader to judge.
    pub(super) fn detect(magic: &[u8]) -> Result<Compression, &'static str> {
        const ZSTD_FRAME: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
        match magic {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Ok(Compression::Xz),
            [a, b, c, d, ..] if [*a, *b, *c, *d] == ZSTD_FRAME => Ok(Compression::Zstd),
            // A zstd stream may open with a skippable frame (magic 0x184D2A5?).
            [low, 0x2a, 0x4d, 0x18, ..] if low & 0xf0 == 0x50 => Ok(Compression::Zstd),
            [b'B', b'Z', b'h', ..] => Err("bzip2"),
            [0x89, b'L', b'Z', b'O', ..] => Err("lzop"),
            [0x04, 0x22, 0x4d, 0x18, ..] => Err("lz4"),
            [0x5d, 0x00, 0x00, ..] => Err("lzma"),
            _ => Ok(Compression::None),
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression [`Compression::name`] names.
    pub(super) fn from_name(name: &str) -> Option<Compression> {
        [
            Compression::None,
            Compression::Gzip,
            Compression::Xz,
            Compression::Zstd,
        ]
        .into_iter()
        .find(|compression| compression.name() == name)
    }

    /// A reader of the decompressed tar stream. Concatenated gzip members and xz streams are
    /// read through, as `gzip -d` and `xz -d` (which GNU tar runs) do.
    pub(super) fn decoder<'a, R: BufRead + 'a>(self, reader: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::template::fixtures::{ALL_COMPRESSIONS, compress};

    #[test]
    fn detects_what_the_encoders_write() {
        for compression in ALL_COMPRESSIONS {
            let data = compress(b"plain tar bytes would be here", compression);
            assert_eq!(
                Compression::detect(&data[..MAGIC_LEN]),
                Ok(compression),
                "{}",
                compression.name()
            );
        }
    }

    #[test]
    fn names_formats_it_cannot_decode() {
        assert_eq!(Compression::detect(b"BZh91AY"), Err("bzip2"));
        assert_eq!(
            Compression::detect(&[0x89, b'L', b'Z', b'O', 0, 0]),
            Err("lzop")
        );
        assert_eq!(
            Compression::detect(&[0x04, 0x22, 0x4d, 0x18, 0, 0]),
            Err("lz4")
        );
    }

    #[test]
    fn names_lead_back_to_the_compression() {
        for compression in ALL_COMPRESSIONS {
            assert_eq!(
                Compression::from_name(compression.name()),
                Some(compression)
            );
        }
        assert_eq!(Compression::from_name("bzip2"), None);
    }

    #[test]
    fn short_or_unknown_input_is_plain() {
        assert_eq!(Compression::detect(b""), Ok(Compression::None));
        assert_eq!(Compression::detect(b"./etc"), Ok(Compression::None));
        assert_eq!(Compression::detect(&[0x1f]), Ok(Compression::None));
    }

    #[test]
    fn decoders_round_trip_concatenated_streams() {
        for compression in ALL_COMPRESSIONS {
            let mut data = compress(b"first,", compression);
            data.extend(compress(b"second", compression));
            let mut text = String::new();
            compression
                .decoder(&data[..])
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, "first,second", "{}", compression.name());
        }
    }
}
