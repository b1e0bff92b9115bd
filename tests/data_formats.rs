//! Every dataset format, read from small files in the official layouts, and every way such
//! a file can be wrong.

mod common;

use common::*;
use convlab::data::{self, cifar, idx, pickle, transform};
use convlab::data::{DataConfig, DatasetName, Lookup};

#[test]
fn idx_round_trip_gz_and_plain() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dataset(dir.path(), 30, 10, 3);
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let (train, test) = idx::load_dir(dir.path(), &classes).unwrap();
    assert_eq!(
        (train.len(), test.len(), train.shape),
        (30, 10, [1, 28, 28])
    );
    assert_eq!(&train.labels[..4], &[0, 1, 2, 0]);
    assert_eq!(train.image(5), &pattern(2, 3, 28, 5)[..]);
    // The same bytes un-gzipped read the same.
    let raw = idx::read_maybe_gz(&dir.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    let (n, r, c, px) = idx::parse_images(&raw, "x").unwrap();
    assert_eq!((n, r, c), (10, 28, 28));
    assert_eq!(&px[..784], test.image(0));
}

#[test]
fn idx_wrong_magic_truncated_and_bad_label_name_the_file() {
    let imgs = idx_images(&[vec![0; 784], vec![0; 784]], 28);
    let mut wrong = imgs.clone();
    wrong[3] = 1;
    let e = idx::parse_images(&wrong, "train-images.gz")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("train-images.gz: wrong magic 0x00000801"),
        "{e}"
    );
    let e = idx::parse_images(&imgs[..1000], "train-images.gz")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-images.gz") && e.contains("truncated"),
        "{e}"
    );
    let e = idx::parse_images(&imgs[..10], "f").unwrap_err().to_string();
    assert!(e.contains("header needs 16"), "{e}");
    let e = idx::parse_labels(&idx_labels(&[1, 2, 12]), 10, "labels.gz")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "labels.gz: label 12 at index 2 is out of range (0..10)");
    let e = idx::parse_labels(&idx_images(&[vec![0; 784]], 28), 10, "labels.gz")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wrong magic 0x00000803, expected 0x00000801"),
        "{e}"
    );
}

#[test]
fn cifar_binary_archive_and_folder() {
    let dir = tempfile::tempdir().unwrap();
    let members = cifar_binary_members(20);
    let archive = dir.path().join("cifar-10-binary.tar.gz");
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    let (train, test) = cifar::load_binary(&archive).unwrap();
    assert_eq!(
        (train.len(), test.len(), train.shape),
        (100, 20, [3, 32, 32])
    );
    assert_eq!(train.labels[0], 0); // batch 1 starts at offset 1000 -> label 0
    assert_eq!(train.image(3), &cifar_image(3, 1003)[..]);
    assert_eq!(train.classes[9], "truck");
    // The unpacked folder reads the same.
    let folder = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&folder).unwrap();
    for (path, bytes) in &members {
        std::fs::write(dir.path().join(path), bytes).unwrap();
    }
    assert_eq!(cifar::load_binary(&folder).unwrap(), (train, test));
}

/// `--data-dir` given as one of the dataset's files, not the folder holding it: that file's
/// dataset (it was "cifar10 not found (looked in: FILE, FILE/cifar10, ...)").
#[test]
fn data_dir_may_name_the_dataset_file_itself() {
    use convlab::data::locate::{Source, locate};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cifar-10-binary.tar.gz"), b"").unwrap();
    std::fs::write(d.join("cifar-10-python.tar.gz"), b"").unwrap();
    let python = d.join("cifar-10-python.tar.gz");
    // The file named, though the folder's first choice is the binary archive beside it.
    let found = locate(DatasetName::Cifar10, Some(&python), false).unwrap();
    assert!(matches!(found, Source::CifarPython(p) if p == python));
    write_idx_dataset(&d.join("mnist"), 10, 10, 2);
    let images = d.join("mnist/t10k-images-idx3-ubyte.gz");
    let found = locate(DatasetName::Mnist, Some(&images), false).unwrap();
    assert!(matches!(found, Source::Idx(p) if p == d.join("mnist")));
}

#[test]
fn cifar_binary_wrong_record_size_and_bad_label() {
    let (mut recs, _) = cifar_records(3, 0);
    let e = cifar::parse_binary(&recs[..3073 * 2 + 100], "data_batch_1.bin")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "data_batch_1.bin: size 6246 bytes is not a multiple of the 3073-byte CIFAR-10 record"
    );
    recs[3073] = 10;
    let e = cifar::parse_binary(&recs, "data_batch_1.bin")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "data_batch_1.bin: label 10 of record 1 is out of range (0..10)"
    );
}

#[test]
fn cifar_python_pickles_as_official() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("cifar-10-python.tar.gz");
    std::fs::write(&archive, tar_gz(&cifar_python_members(12))).unwrap();
    let (train, test) = cifar::load_python(&archive).unwrap();
    assert_eq!((train.len(), test.len()), (60, 12));
    assert_eq!(train.labels[..3], [0, 1, 2]);
    assert_eq!(train.image(2), &cifar_image(2, 1002)[..]);
    // Same content as the binary layout of the same images.
    let bin = dir.path().join("b.tar.gz");
    std::fs::write(&bin, tar_gz(&cifar_binary_members(12))).unwrap();
    assert_eq!(cifar::load_binary(&bin).unwrap(), (train, test));
}

#[test]
fn cifar_python_errors() {
    let e = cifar::parse_python(b"\x80\x02}q\x00.", "data_batch_1")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "data_batch_1: no `data` array in the pickled batch");
    let e = cifar::parse_python(b"garbage", "data_batch_1")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("data_batch_1: not a CIFAR-10 python batch"),
        "{e}"
    );
    let bad = cifar_python_batch(&[1, 11], &vec![0u8; 2 * 3072]);
    let e = cifar::parse_python(&bad, "data_batch_1")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "data_batch_1: label 11 of image 1 is out of range (0..10)"
    );
}

#[test]
fn pickle_reads_python3_protocol2_bytes() {
    // What Python 3 writes for b"\xff\x00" at protocol 2: _codecs.encode("\u00ff\x00", "latin1").
    let p = b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00\xc3\xbf\x00q\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.";
    assert_eq!(
        pickle::parse(p).unwrap(),
        pickle::Value::Bytes(vec![0xff, 0x00])
    );
}

#[test]
fn cache_makes_the_second_load_identical() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dataset(&dir.path().join("mnist"), 20, 5, 2);
    let unrelated = dir.path().join("mnist/notes/todo.txt");
    std::fs::create_dir(unrelated.parent().unwrap()).unwrap();
    std::fs::write(&unrelated, "a").unwrap();
    // SAFETY: tests in this binary that touch CONVLAB_CACHE run only here.
    unsafe { std::env::set_var("CONVLAB_CACHE", dir.path().join("cache")) };
    let cfg = DataConfig {
        dataset: DatasetName::Mnist,
        ..Default::default()
    };
    let lookup = Lookup {
        data_dir: Some(dir.path().to_path_buf()),
        download: false,
    };
    let first = data::load(&cfg, &lookup).unwrap();
    let cached: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1, "one cache file");
    assert_eq!(data::load(&cfg, &lookup).unwrap(), first);

    // data.image_size and data.color_mode: a built-in set is converted after the cache
    // (no second file); RGB is the gray image in each of three planes.
    let gray = DataConfig {
        image_size: Some([14, 12]),
        ..cfg.clone()
    };
    let rgb = DataConfig {
        color_mode: "rgb".parse().unwrap(),
        ..gray.clone()
    };
    let (gray, rgb) = (
        data::load(&gray, &lookup).unwrap(),
        data::load(&rgb, &lookup).unwrap(),
    );
    assert_eq!(
        (gray.train.shape, rgb.test.shape),
        ([1, 14, 12], [3, 14, 12])
    );
    assert_eq!(rgb.train.labels, first.train.labels);
    let plane = 14 * 12;
    for (g, c) in gray
        .train
        .images
        .chunks(plane)
        .zip(rgb.train.images.chunks(3 * plane))
    {
        assert!(c.chunks(plane).all(|p| p == g));
    }
    assert_eq!(gray.train.images.len(), first.train.len() * plane);
    assert_eq!(
        std::fs::read_dir(dir.path().join("cache")).unwrap().count(),
        1
    );
    // A folder of IDX files is keyed by its own entries only: what lies in a subfolder of it
    // (it may be any folder, `--data-dir ~/Downloads`) is neither walked nor a new key.
    std::fs::write(&unrelated, "a longer note").unwrap();
    assert_eq!(data::load(&cfg, &lookup).unwrap(), first);
    assert_eq!(
        std::fs::read_dir(dir.path().join("cache")).unwrap().count(),
        1
    );

    // An image folder is cached as decoded; an image added to a class folder, or one
    // replaced, is read again (neither changes the root folder's own mtime or entries).
    let pets = dir.path().join("pets");
    write_png_folder(&pets, &["cat", "dog"], 3);
    let pets_cfg = DataConfig {
        dataset: DatasetName::Folder,
        path: Some(pets.clone()),
        ..Default::default()
    };
    assert_eq!(data::load(&pets_cfg, &lookup).unwrap().train.len(), 6);
    std::fs::copy(
        pets.join("train/cat/000.png"),
        pets.join("train/cat/003.png"),
    )
    .unwrap();
    let added = data::load(&pets_cfg, &lookup).unwrap();
    assert_eq!(added.train.len(), 7);
    // train: cat 000-003 are images 0-3, dog 000 is image 4. A flat image (a smaller file,
    // so the change shows even within the file system's mtime resolution) replaces it.
    let flat = image::GrayImage::from_pixel(16, 16, image::Luma([77]));
    flat.save(pets.join("train/dog/000.png")).unwrap();
    let replaced = data::load(&pets_cfg, &lookup).unwrap();
    assert_ne!(added.train.image(4), flat.as_raw().as_slice());
    assert_eq!(replaced.train.image(4), flat.as_raw().as_slice());
    // Each change replaced the folder's cache: one file for it, one for MNIST.
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left[0].starts_with("folder") && left[1].starts_with("mnist-"),
        "{left:?}"
    );
}

#[test]
fn validation_split_is_seeded_and_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dataset(dir.path(), 100, 5, 4);
    let classes: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let (train, _) = idx::load_dir(dir.path(), &classes).unwrap();
    let (tr, val) = data::split_validation(&train, 0.2, 7);
    let val = val.unwrap();
    assert_eq!((tr.len(), val.len()), (80, 20));
    assert_eq!(data::split_validation(&train, 0.2, 7).1.unwrap(), val);
    assert_ne!(data::split_validation(&train, 0.2, 8).1.unwrap(), val);
    for i in 0..val.len() {
        assert!(
            (0..tr.len()).all(|j| tr.image(j) != val.image(i)),
            "val image {i} is also in train"
        );
    }
}

#[test]
fn normalization_matches_hand_computation_and_eval_is_unaugmented() {
    let ds = data::Dataset {
        shape: [1, 2, 2],
        images: vec![0, 51, 102, 255],
        labels: vec![0],
        classes: vec!["a".into()],
    };
    let (mean, std) = ds.channel_stats();
    // pixels / 255 = 0, .2, .4, 1 -> mean .4, var (.16+.04+0+.36)/4 = .14
    assert!(
        (mean[0] - 0.4).abs() < 1e-6 && (std[0] - 0.14f32.sqrt()).abs() < 1e-6,
        "{mean:?} {std:?}"
    );
    let norm = transform::Normalize::new(vec![0.5], vec![0.25]);
    let mut out = Vec::new();
    transform::fill_batch(
        &ds,
        &[0],
        &norm,
        None::<(&transform::Augment, &mut rand::rngs::StdRng)>,
        &mut out,
    );
    for (got, want) in out.iter().zip([-2.0f32, -1.2, -0.4, 2.0]) {
        assert!((got - want).abs() < 1e-5, "{out:?}");
    }
}

#[test]
fn flip_only_augmentation_mirrors_or_keeps() {
    use rand::SeedableRng;
    let ds = data::Dataset {
        shape: [1, 1, 3],
        images: vec![10, 20, 30],
        labels: vec![0],
        classes: vec!["a".into()],
    };
    let norm = transform::Normalize::identity(1);
    let aug = transform::Augment {
        crop_padding: 0,
        hflip: true,
        ..Default::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let (mut flipped, mut kept) = (0, 0);
    for _ in 0..200 {
        let mut out = Vec::new();
        transform::fill_batch(&ds, &[0], &norm, Some((&aug, &mut rng)), &mut out);
        let px: Vec<u8> = out.iter().map(|v| (v * 255.0).round() as u8).collect();
        match px.as_slice() {
            [30, 20, 10] => flipped += 1,
            [10, 20, 30] => kept += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(flipped > 60 && kept > 60, "flipped {flipped}, kept {kept}");
}

#[test]
fn md5_verification_names_the_file() {
    assert_eq!(
        data::locate::md5_hex(b"abc"),
        "900150983cd24fb0d6963f7d28e17f72"
    );
    let e = data::locate::verify_md5(b"abc", "00", "train-images-idx3-ubyte.gz")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("train-images-idx3-ubyte.gz: checksum mismatch"),
        "{e}"
    );
}
