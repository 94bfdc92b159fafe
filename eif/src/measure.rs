//! Streaming measurement: one pass over the image in fixed-size buffers, whatever its size.
//!
//! PCR0 = extend(SHA-384(kernel || cmdline || ramdisk 0 || ramdisk 1 || ...)), PCR1 = extend(SHA-384(
//! kernel || cmdline || ramdisk 0)), PCR2 = extend(SHA-384(ramdisk 1 || ...)), in file order, sections'
//! data only (aws-nitro-enclaves-image-format 0.8.1, `EifReader::from_eif` and `get_pcrs`). PCR1's
//! input is a prefix of PCR0's, so one hasher serves both (PCR1 is a copy finished after ramdisk 0).
//! PCR2 needs a second pass of SHA-384 over the application ramdisks, which usually are most of the
//! image; a second thread does it on the same buffers, so a large image is measured in about the
//! time of one SHA-384 over it on a machine with two free cores.

#![warn(clippy::arithmetic_side_effects)]

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use crate::hash::Sha384;

use crate::error::EifError;
use crate::format::{self, Header, Order, SectionKind, Span, CRC_OFFSET, HEADER_LEN, SECTION_HEADER_LEN};
use crate::pcr::{extended_once, PCR_LEN};
use crate::signature::{self, Signer, MAX_SIGNATURE_SECTION};
use enclave_protocol::{Pcr, PcrIndex, PcrValue};

/// Bytes read at a time.
const CHUNK: usize = 256 * 1024;
/// Buffers in flight between the reading and the PCR2 thread: memory is bounded by `CHUNK * BUFFERS`.
const BUFFERS: usize = 4;
/// An application ramdisk this large or larger is hashed on a second thread (smaller ones are not
/// worth a thread).
const THREAD_THRESHOLD: u64 = 4 * CHUNK as u64;
/// Bytes of the command line kept for display (the rest is measured, not kept).
pub const MAX_CMDLINE_KEPT: usize = 4096;

/// The PCRs an image produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurements {
    pcr0: PcrValue,
    pcr1: PcrValue,
    pcr2: PcrValue,
    pcr8: Option<PcrValue>,
}

impl Measurements {
    /// PCR0: the image (kernel, command line, every ramdisk).
    pub fn pcr0(&self) -> &PcrValue {
        &self.pcr0
    }

    /// PCR1: the kernel, command line and first (bootstrap) ramdisk.
    pub fn pcr1(&self) -> &PcrValue {
        &self.pcr1
    }

    /// PCR2: the other ramdisks (the application).
    pub fn pcr2(&self) -> &PcrValue {
        &self.pcr2
    }

    /// PCR8: the signing certificate, for a signed image whose signature verified.
    pub fn pcr8(&self) -> Option<&PcrValue> {
        self.pcr8.as_ref()
    }

    /// PCR0, 1, 2 and, when signed, 8, in index order: what to pin for this image (for example as
    /// one `MeasurementSet`).
    pub fn pcrs(&self) -> Vec<Pcr> {
        let mut v = vec![
            Pcr::new(PcrIndex::IMAGE, self.pcr0.clone()),
            Pcr::new(PcrIndex::KERNEL, self.pcr1.clone()),
            Pcr::new(PcrIndex::APPLICATION, self.pcr2.clone()),
        ];
        v.extend(self.pcr8.clone().map(|p| Pcr::new(PcrIndex::SIGNING_CERTIFICATE, p)));
        v
    }
}

/// One section of a measured image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    kind: SectionKind,
    index: usize,
    ramdisk: Option<usize>,
    offset: u64,
    size: u64,
    sha384: Option<[u8; PCR_LEN]>,
}

impl Section {
    /// What it holds.
    pub fn kind(&self) -> SectionKind {
        self.kind
    }

    /// Its index in the section table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// For a ramdisk, which one (0 is the bootstrap ramdisk, in PCR1; the others are in PCR2).
    pub fn ramdisk(&self) -> Option<usize> {
        self.ramdisk
    }

    /// Where its 12-byte section header starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Its data's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// SHA-384 of its data, when [`Measure::section_digests`] asked for it.
    pub fn sha384(&self) -> Option<&[u8; PCR_LEN]> {
        self.sha384.as_ref()
    }

    /// `kernel`, `cmdline`, `ramdisk 1`, ...: how output names the section.
    pub fn label(&self) -> String {
        match self.ramdisk {
            Some(n) => format!("ramdisk {n}"),
            None => self.kind.name().to_owned(),
        }
    }
}

/// A measured image: its header, its sections, its PCRs and, if signed, its signer.
#[derive(Debug, Clone)]
pub struct Image {
    header: Header,
    sections: Vec<Section>,
    measurements: Measurements,
    signer: Option<Signer>,
    cmdline: Vec<u8>,
}

impl Image {
    /// The fixed header's fields.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Sections in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// PCR0, PCR1, PCR2 and, when signed, PCR8.
    pub fn measurements(&self) -> &Measurements {
        &self.measurements
    }

    /// Who signed PCR0, for a signed image (its signature verified, or measuring failed).
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The first [`MAX_CMDLINE_KEPT`] bytes of the kernel command line (text from the image: escape
    /// it before display, [`crate::escape`]).
    pub fn cmdline(&self) -> &[u8] {
        &self.cmdline
    }

    /// The image's length in bytes (header and every section).
    pub fn file_len(&self) -> u64 {
        self.header.end()
    }
}

/// How to measure: options, then [`Measure::file`] or [`Measure::reader`].
///
/// # Examples
///
/// ```no_run
/// let image = enclave_eif::Measure::new().section_digests(true).file("app.eif".as_ref())?;
/// for s in image.sections() {
///     println!("{} {} bytes", s.label(), s.size());
/// }
/// # Ok::<(), enclave_eif::EifError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Measure {
    section_digests: bool,
    len: Option<u64>,
}

impl Measure {
    /// PCRs only, length unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also compute each section's SHA-384 (for comparing images; costs one more hash of every byte).
    pub fn section_digests(mut self, yes: bool) -> Self {
        self.section_digests = yes;
        self
    }

    /// The stream's length, when known: the section table is then checked against it before any
    /// section is read (a section past the end is named at once, not after reading up to it).
    pub fn expect_len(mut self, len: u64) -> Self {
        self.len = Some(len);
        self
    }

    /// Measures the file at `path` (a regular file's length is taken from the file system).
    ///
    /// # Errors
    ///
    /// [`EifError::Open`] if it cannot be opened, otherwise as [`Measure::reader`].
    pub fn file(&self, path: &Path) -> Result<Image, EifError> {
        let file = std::fs::File::open(path).map_err(|source| EifError::Open { source })?;
        let meta = file.metadata().map_err(|source| EifError::Open { source })?;
        // A pipe or a device has no meaningful length: it is read as a stream.
        let len = if meta.is_file() { Some(meta.len()) } else { self.len };
        Self { len, ..self.clone() }.reader(file)
    }

    /// Measures the image `reader` yields, reading it once from its current position.
    ///
    /// # Errors
    ///
    /// The first check the image fails, as an [`EifError`] naming the offsets and values involved.
    pub fn reader<R: Read>(&self, mut reader: R) -> Result<Image, EifError> {
        let mut head = [0u8; HEADER_LEN];
        if let Some(len) = self.len.filter(|&l| l < HEADER_LEN as u64) {
            return Err(EifError::HeaderTruncated { len, header_len: HEADER_LEN as u64 });
        }
        let got = fill(&mut reader, &mut head, 0)?;
        if got < HEADER_LEN {
            return Err(EifError::HeaderTruncated { len: got as u64, header_len: HEADER_LEN as u64 });
        }
        let header = format::parse_header(&head, self.len)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(head.get(..CRC_OFFSET).unwrap_or_default());
        std::thread::scope(|scope| {
            Stream {
                reader: &mut reader,
                scope,
                crc,
                pool: Vec::new(),
                allocated: 0,
                image: Sha384::new(),
                pcr1: None,
                app: App::Inline(Sha384::new()),
                section_digests: self.section_digests,
            }
            .run(header)
        })
    }
}

/// Measures the file at `path`: [`Measure::new`]`.file(path)`.
///
/// # Errors
///
/// As [`Measure::file`].
pub fn measure_file(path: &Path) -> Result<Image, EifError> {
    Measure::new().file(path)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn fill<R: Read>(r: &mut R, buf: &mut [u8], offset: u64) -> Result<usize, EifError> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|b| !b.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => done = done.saturating_add(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(EifError::Io { offset: offset.saturating_add(done as u64), source }),
        }
    }
    Ok(done)
}

/// Where a section's bytes go besides the CRC.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    /// PCR0 and PCR1 (kernel, ramdisk 0).
    Boot,
    /// As `Boot`, and the first bytes kept for display.
    Cmdline,
    /// PCR0 and PCR2 (ramdisk 1 and later).
    App,
    /// Kept whole, to be verified at the end (bounded by `MAX_SIGNATURE_SECTION`).
    Signature,
    /// Nowhere (metadata).
    None,
}

/// The PCR2 hasher: on this thread, or on a worker fed with the reading thread's buffers.
enum App<'scope> {
    Inline(Sha384),
    Worker { tx: SyncSender<(Vec<u8>, usize)>, back: Receiver<Vec<u8>>, done: ScopedJoinHandle<'scope, [u8; PCR_LEN]> },
    Gone,
}

struct Stream<'scope, 'env, 'r, R> {
    reader: &'r mut R,
    scope: &'scope Scope<'scope, 'env>,
    crc: crc32fast::Hasher,
    pool: Vec<Vec<u8>>,
    allocated: usize,
    image: Sha384,
    pcr1: Option<PcrValue>,
    app: App<'scope>,
    section_digests: bool,
}

impl<'scope, 'env, R: Read> Stream<'scope, 'env, '_, R> {
    fn run(mut self, header: Header) -> Result<Image, EifError> {
        let expected_len = header.end();
        let mut order = Order::default();
        let mut sections = Vec::with_capacity(header.spans.len());
        let mut cmdline = Vec::new();
        let mut sig: Option<(usize, u64, Vec<u8>)> = None;
        for (index, span) in header.spans.iter().enumerate() {
            let mut sh = [0u8; SECTION_HEADER_LEN as usize];
            let got = fill(self.reader, &mut sh, span.offset)?;
            if got < sh.len() {
                return Err(EifError::Truncated { offset: span.offset.saturating_add(got as u64), expected_len });
            }
            self.crc.update(&sh);
            let kind = format::parse_section_header(&sh, index, span)?;
            let ramdisk = order.accept(index, kind)?;
            let route = match (kind, ramdisk) {
                (SectionKind::Kernel, _) | (SectionKind::Ramdisk, Some(0)) => Route::Boot,
                (SectionKind::Cmdline, _) => Route::Cmdline,
                (SectionKind::Ramdisk, _) => Route::App,
                (SectionKind::Signature, _) => {
                    if span.size > MAX_SIGNATURE_SECTION {
                        return Err(EifError::SectionTooLarge {
                            index,
                            kind,
                            size: span.size,
                            max: MAX_SIGNATURE_SECTION,
                        });
                    }
                    Route::Signature
                }
                (SectionKind::Metadata, _) => Route::None,
            };
            let mut keep = Vec::new();
            let sha384 = self.section(span, route, expected_len, &mut keep)?;
            match route {
                Route::Cmdline => cmdline = keep,
                Route::Signature => sig = Some((index, span.offset, keep)),
                _ => {}
            }
            if ramdisk == Some(0) {
                self.pcr1 = Some(extended_once(&self.image.clone().finalize()));
            }
            sections.push(Section { kind, index, ramdisk, offset: span.offset, size: span.size, sha384 });
        }

        let mut probe = [0u8; 1];
        if fill(self.reader, &mut probe, expected_len)? != 0 {
            return Err(EifError::TrailingData { end: expected_len });
        }
        let computed = self.crc.clone().finalize();
        if computed != header.crc32 {
            return Err(EifError::CrcMismatch { in_header: header.crc32, computed });
        }
        order.finish()?;

        let pcr0 = extended_once(&self.image.clone().finalize());
        let pcr1 = self.pcr1.take().ok_or(EifError::NoRamdisk)?;
        let pcr2 = extended_once(&self.finish_app()?);
        let signer = match sig {
            Some((index, offset, bytes)) => {
                Some(signature::verify(&bytes, &pcr0).map_err(|source| EifError::Signature {
                    index,
                    offset,
                    source,
                })?)
            }
            None => None,
        };
        let measurements = Measurements { pcr0, pcr1, pcr2, pcr8: signer.as_ref().map(Signer::pcr8) };
        Ok(Image { header, sections, measurements, signer, cmdline })
    }

    /// Streams one section's data through the CRC and its route; returns its SHA-384 if asked for.
    fn section(
        &mut self,
        span: &Span,
        route: Route,
        expected_len: u64,
        keep: &mut Vec<u8>,
    ) -> Result<Option<[u8; PCR_LEN]>, EifError> {
        let mut digest = self.section_digests.then(Sha384::new);
        if route == Route::App && span.size >= THREAD_THRESHOLD {
            self.start_worker();
        }
        let mut pos = span.offset.saturating_add(SECTION_HEADER_LEN);
        let mut left = span.size;
        while left > 0 {
            let want = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
            let mut buf = self.buffer()?;
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let got = fill(self.reader, chunk, pos)?;
            if got < want {
                return Err(EifError::Truncated { offset: pos.saturating_add(got as u64), expected_len });
            }
            self.crc.update(chunk);
            if let Some(d) = digest.as_mut() {
                d.update(&*chunk);
            }
            match route {
                Route::Boot => self.image.update(&*chunk),
                Route::Cmdline => {
                    self.image.update(&*chunk);
                    let room = MAX_CMDLINE_KEPT.saturating_sub(keep.len());
                    keep.extend_from_slice(chunk.get(..room.min(want)).unwrap_or_default());
                }
                Route::App => {
                    self.image.update(&*chunk);
                    buf = self.feed_app(buf, want)?;
                }
                Route::Signature => keep.extend_from_slice(chunk),
                Route::None => {}
            }
            if !buf.is_empty() {
                self.pool.push(buf);
            }
            pos = pos.saturating_add(want as u64);
            left = left.saturating_sub(want as u64);
        }
        Ok(digest.map(|d| d.finalize()))
    }

    /// A `CHUNK`-sized buffer: a spare one, one back from the worker, a new one while fewer than
    /// `BUFFERS` exist, or else the next one the worker returns.
    fn buffer(&mut self) -> Result<Vec<u8>, EifError> {
        if let Some(b) = self.pool.pop() {
            return Ok(b);
        }
        if let App::Worker { back, .. } = &self.app {
            if let Ok(b) = back.try_recv() {
                return Ok(b);
            }
            if self.allocated >= BUFFERS {
                return back.recv().map_err(|_| EifError::HashingThread);
            }
        }
        self.allocated = self.allocated.saturating_add(1);
        Ok(vec![0u8; CHUNK])
    }

    /// Hashes `buf[..len]` into PCR2: here, or by handing the buffer to the worker. Returns the buffer
    /// if it is still this thread's, an empty one if the worker has it.
    fn feed_app(&mut self, buf: Vec<u8>, len: usize) -> Result<Vec<u8>, EifError> {
        match &mut self.app {
            App::Inline(h) => {
                h.update(buf.get(..len).unwrap_or_default());
                Ok(buf)
            }
            App::Worker { tx, .. } => {
                tx.send((buf, len)).map_err(|_| EifError::HashingThread)?;
                Ok(Vec::new())
            }
            App::Gone => Err(EifError::HashingThread),
        }
    }

    /// Moves the PCR2 hasher (and what it has hashed so far) to a second thread, once. If the thread
    /// cannot be started, hashing stays on this one.
    fn start_worker(&mut self) {
        if !matches!(self.app, App::Inline(_)) {
            return;
        }
        let App::Inline(h) = std::mem::replace(&mut self.app, App::Gone) else {
            return;
        };
        let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
        let (back_tx, back) = mpsc::channel::<Vec<u8>>();
        let state = h.clone();
        let spawned = std::thread::Builder::new().name("eif-pcr2".into()).spawn_scoped(self.scope, move || {
            let mut h = state;
            while let Ok((buf, len)) = rx.recv() {
                h.update(buf.get(..len).unwrap_or_default());
                // The reader may have finished already; a buffer nobody takes back is just dropped.
                let _ = back_tx.send(buf);
            }
            h.finalize()
        });
        self.app = match spawned {
            Ok(done) => App::Worker { tx, back, done },
            Err(_) => App::Inline(h),
        };
    }

    fn finish_app(&mut self) -> Result<[u8; PCR_LEN], EifError> {
        match std::mem::replace(&mut self.app, App::Gone) {
            App::Inline(h) => Ok(h.finalize()),
            App::Worker { tx, done, .. } => {
                drop(tx);
                done.join().map_err(|_| EifError::HashingThread)
            }
            App::Gone => Err(EifError::HashingThread),
        }
    }
}
