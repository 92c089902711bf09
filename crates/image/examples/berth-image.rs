//! A tiny command line over berth-image, for benchmarks and manual checks:
//!   berth-image load   <root> <archive>            load a docker-archive / OCI archive
//!   berth-image save   <root> <out> <name>...      save images to a docker-archive
//!   berth-image import <root> <tarball> [name]     import a rootfs tarball
//!   berth-image build  <root> <name> <layer>...    make an image from layer tarballs (any compression)
//!   berth-image ls     <root>                      list images
use std::io::{BufWriter, Write};

use berth_image::{archive, ImageRoot, ImportOptions, Reference};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: berth-image load|save|import|ls <root> ...";
    let cmd = args.get(1).ok_or(usage)?;
    let root = ImageRoot::open(args.get(2).ok_or(usage)?)?;
    match cmd.as_str() {
        "load" => {
            let f = std::fs::File::open(args.get(3).ok_or(usage)?)?;
            for l in archive::load(root.stores(), f, &mut |_| {})? {
                let names: Vec<String> = l.names.iter().map(Reference::familiar).collect();
                println!("Loaded image {} {}", l.image.id, names.join(" "));
            }
        }
        "save" => {
            let out = std::fs::File::create(args.get(3).ok_or(usage)?)?;
            let mut list = Vec::new();
            for n in &args[4..] {
                let img = root.images.resolve(n)?;
                list.push((img.id.clone(), vec![Reference::parse(n)?]));
            }
            let mut w = BufWriter::with_capacity(1 << 20, out);
            archive::save(root.stores(), &list, &mut w, &mut |_| {})?;
            w.flush()?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        "import" => {
            let f = std::fs::File::open(args.get(3).ok_or(usage)?)?;
            let opts = ImportOptions {
                reference: args.get(4).map(|n| Reference::parse(n)).transpose()?,
                ..Default::default()
            };
            let l = archive::import(root.stores(), f, &opts)?;
            println!("{}", l.image.id);
        }
        "build" => {
            let name = Reference::parse(args.get(3).ok_or(usage)?)?;
            let mut parent: Option<berth_image::Digest> = None;
            let mut diffs = Vec::new();
            let mut blobs = Vec::new();
            for (i, path) in args[4..].iter().enumerate() {
                let f = std::fs::File::open(path)?;
                let blob = root.content.ingest(&format!("build-{i}"), f, None)?;
                let snap = root.snapshots.unpack_new_layer(
                    parent.as_ref(),
                    path,
                    root.content.reader(&blob.digest)?,
                )?;
                parent = Some(berth_image::Digest::from_hex(&snap.id)?);
                let diff = snap.diff_id.ok_or("no diff id")?;
                diffs.push(diff.to_string());
                let mut head = [0u8; 4];
                let n = std::io::Read::read(&mut root.content.reader(&blob.digest)?, &mut head)?;
                blobs.push((
                    blob.digest,
                    berth_image::Compression::detect(&head[..n])
                        .oci_media_type()
                        .to_string(),
                ));
            }
            let cfg = serde_json::json!({
                "architecture": archive::host_arch(), "os": "linux", "created": archive::now_rfc3339(),
                "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diffs},
            });
            let l =
                archive::store_image(root.stores(), &serde_json::to_vec(&cfg)?, &blobs, &[name])?;
            println!("{}", l.image.id);
        }
        "ls" => {
            for i in root.images.list() {
                let names: Vec<String> = i.repo_tags.iter().map(Reference::familiar).collect();
                println!(
                    "{} {} {} layers {}",
                    i.id.short(),
                    i.size(),
                    i.layers.len(),
                    names.join(",")
                );
            }
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
