//! The image figures of `enclave-bench`: measuring an EIF (`enclave_eif::Measure::file`, what
//! `enclave measure` runs) against SHA-384 over the same file read the same way, and the peak memory of
//! a process that measures it.
//!
//! Input: none (the image is written here, to the temporary directory, and removed afterwards).
//! Output: MiB/s of both, their ratio, and the child's VmHWM. The image is one a nitro-cli build would
//! make in shape: a kernel (1/128 of the image), a command line, a bootstrap ramdisk (1/32) and an
//! application ramdisk holding the rest, with a correct CRC.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{median, MIB};

/// The environment variable that tells the `eif-rss` child which image to measure.
pub(super) const IMAGE_ENV: &str = "ENCLAVE_BENCH_EIF";
/// Read size of the baseline, the reader's own.
const CHUNK: usize = 256 * 1024;

/// Medians of the EIF figures.
pub(super) struct Figures {
    pub(super) sha384_mb_per_s: f64,
    pub(super) measure_mb_per_s: f64,
    pub(super) peak_rss_mb: f64,
}

/// The image file, removed on drop.
struct TempImage(PathBuf);

impl Drop for TempImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes a `len`-byte image, then samples the baseline and the measurement alternately `samples`
/// times (after one untimed pass that brings the file into the page cache), then measures it once in a
/// child process for its peak memory.
pub(super) async fn figures(len: u64, samples: usize) -> Result<Figures, String> {
    let image = TempImage(std::env::temp_dir().join(format!("enclave-bench-{}.eif", std::process::id())));
    write_image(&image.0, len)?;
    sha384_file(&image.0)?;
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let t = Instant::now();
        sha384_file(&image.0)?;
        base.push(len as f64 / MIB / t.elapsed().as_secs_f64());
        let t = Instant::now();
        enclave_eif::measure_file(&image.0).map_err(|e| format!("the bench image was refused: {e}"))?;
        ours.push(len as f64 / MIB / t.elapsed().as_secs_f64());
    }
    let peak_kb = child_peak_rss_kb(&image.0).await?;
    Ok(Figures { sha384_mb_per_s: median(base), measure_mb_per_s: median(ours), peak_rss_mb: peak_kb / 1024.0 })
}

/// The baseline: SHA-384 (aws-lc-rs) of the file, read in the reader's chunk size.
fn sha384_file(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA384);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(|e| e.to_string())?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else { break };
        ctx.update(chunk);
    }
    std::hint::black_box(ctx.finish());
    Ok(())
}

/// Writes the image: placeholder header, sections (CRC'd as written), then the header with the CRC.
fn write_image(path: &Path, len: u64) -> Result<(), String> {
    const MIB_U: u64 = 1 << 20;
    let cmdline = b"reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on".to_vec();
    // For 1 GiB: an 8 MiB kernel and a 32 MiB bootstrap ramdisk, as nitro-cli's are of that order.
    let (kernel, bootstrap) = (len / 128, len / 32);
    let fixed = 548 + 4 * 12 + kernel + cmdline.len() as u64 + bootstrap;
    let app = len.checked_sub(fixed).ok_or_else(|| format!("a bench image needs more than {fixed} bytes"))?;
    let sections: [(u16, u64); 4] = [(1, kernel), (2, cmdline.len() as u64), (3, bootstrap), (3, app)];

    let mut header = Vec::with_capacity(548);
    header.extend_from_slice(b".eif");
    header.extend_from_slice(&4u16.to_be_bytes()); // version
    header.extend_from_slice(&0u16.to_be_bytes()); // flags: x86_64
    header.extend_from_slice(&(512 * MIB_U).to_be_bytes()); // default memory
    header.extend_from_slice(&2u64.to_be_bytes()); // default vCPUs
    header.extend_from_slice(&0u16.to_be_bytes()); // reserved
    header.extend_from_slice(&(sections.len() as u16).to_be_bytes());
    let (mut offsets, mut sizes) = ([0u64; 32], [0u64; 32]);
    let mut at = 548u64;
    for (i, (_, size)) in sections.iter().enumerate() {
        if let (Some(o), Some(s)) = (offsets.get_mut(i), sizes.get_mut(i)) {
            (*o, *s) = (at, *size);
        }
        at += 12 + size;
    }
    offsets.iter().chain(&sizes).for_each(|v| header.extend_from_slice(&v.to_be_bytes()));
    header.extend_from_slice(&0u32.to_be_bytes()); // unused

    let mut file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    file.write_all(&[0u8; 548]).map_err(io)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let block: Vec<u8> = (0..MIB_U / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect();
    for (t, size) in sections {
        let mut section_header = t.to_be_bytes().to_vec();
        section_header.extend_from_slice(&0u16.to_be_bytes());
        section_header.extend_from_slice(&size.to_be_bytes());
        crc.update(&section_header);
        file.write_all(&section_header).map_err(io)?;
        if t == 2 {
            crc.update(&cmdline);
            file.write_all(&cmdline).map_err(io)?;
            continue;
        }
        let mut left = size;
        while left > 0 {
            let n = usize::try_from(left.min(MIB_U)).unwrap_or(block.len());
            let part = block.get(..n).unwrap_or(&block);
            crc.update(part);
            file.write_all(part).map_err(io)?;
            left -= part.len() as u64;
        }
    }
    header.extend_from_slice(&crc.finalize().to_be_bytes());
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Peak resident memory (kB) of a child process of this binary measuring `image`.
async fn child_peak_rss_kb(image: &Path) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let out = tokio::process::Command::new(exe)
        .args(["--child", "eif-rss"])
        .env(IMAGE_ENV, image)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot start the child process: {e}"))?;
    if !out.status.success() {
        return Err(format!("eif-rss child failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse::<f64>().map_err(|_| format!("eif-rss child printed {:?}", text.trim()))
}

/// The `eif-rss` child: measures the image named by [`IMAGE_ENV`] and returns this process's VmHWM.
pub(super) fn child_measure() -> Result<(), String> {
    let path = std::env::var_os(IMAGE_ENV).ok_or_else(|| format!("{IMAGE_ENV} is not set"))?;
    enclave_eif::measure_file(Path::new(&path)).map_err(|e| e.to_string())?;
    Ok(())
}
