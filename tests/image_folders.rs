//! Image folders as a user has them: `ROOT/{train,test}/<class>/` or only `ROOT/<class>/`,
//! a directory or a .tar.gz, every image format torchvision's `ImageFolder` reads, and a file
//! in them that is not an image.

mod common;

use common::*;
use convlab::data::folder;

#[test]
fn image_folder_classes_sorted_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    write_png_folder(dir.path(), &["zebra", "apple", "mango"], 4);
    let (train, test) = folder::load(dir.path()).unwrap();
    assert_eq!(train.classes, ["apple", "mango", "zebra"]);
    assert_eq!(
        (train.len(), test.len(), train.shape),
        (12, 12, [1, 16, 16])
    );
    assert_eq!(train.labels, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // "zebra" was written as class index 0's pattern: its first image is pattern(0, 3, 16, 0).
    assert_eq!(train.image(8), &pattern(0, 3, 16, 0)[..]);
    // The same tree as a .tar.gz reads the same.
    let mut members = Vec::new();
    for split in ["train", "test"] {
        for class in ["zebra", "apple", "mango"] {
            for i in 0..4 {
                let p = dir
                    .path()
                    .join(split)
                    .join(class)
                    .join(format!("{i:03}.png"));
                members.push((
                    format!("set/{split}/{class}/{i:03}.png"),
                    std::fs::read(p).unwrap(),
                ));
            }
        }
    }
    let archive = dir.path().join("set.tar.gz");
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    assert_eq!(folder::load(&archive).unwrap(), (train, test));
}

/// Files not named as images (Windows' Thumbs.db, notes) are skipped, as torchvision's
/// `ImageFolder` and Keras skip them, in a folder and in its archive; a file named as an
/// image that does not decode is an error naming it.
#[test]
fn image_folder_non_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_png_folder(dir.path(), &["a", "b"], 2);
    let clean = folder::load(dir.path()).unwrap();
    std::fs::write(dir.path().join("train/b/notes.txt"), "not an image").unwrap();
    std::fs::write(
        dir.path().join("test/a/Thumbs.db"),
        [0xd0, 0xcf, 0x11, 0xe0],
    )
    .unwrap();
    assert_eq!(folder::load(dir.path()).unwrap(), clean);
    let member = |name: &str| {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        (format!("set/{name}"), bytes)
    };
    let mut members: Vec<_> = ["train/a/000.png", "train/b/000.png", "test/a/000.png"]
        .map(member)
        .into();
    members.push(("set/train/b/Thumbs.db".to_string(), b"junk".to_vec()));
    let archive = dir.path().join("set.tar.gz");
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    let (train, test) = folder::load(&archive).unwrap();
    assert_eq!((train.len(), test.len()), (2, 1));
    let bad = dir.path().join("train/b/broken.PNG");
    std::fs::write(&bad, "not an image").unwrap();
    let e = folder::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: not a readable image: PNG, JPEG,",
            bad.display()
        )),
        "{e}"
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = folder::load(&empty).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: no images in ROOT/train/", empty.display())),
        "{e}"
    );
    // One class's folder given for the whole dataset: its images have no class.
    let one_class = dir.path().join("train/a");
    let e = folder::load(&one_class).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: 2 images but no class folders: an image folder keeps each class's images in a \
             folder named after it (ROOT/train/<class>/ and ROOT/test/<class>/, or ROOT/<class>/)",
            one_class.display()
        )
    );
}

/// `ROOT/<class>/*` with no train/ and test/: of each class's files in name order, those at
/// 0-based positions i with floor((i + 1) f) > floor(i f) are the test set; for f = 0.2 and
/// 10 files, 004 and 009; for 6 files, 004.
#[test]
fn image_folder_without_split_holds_out_each_class_evenly() {
    let dir = tempfile::tempdir().unwrap();
    let flat = dir.path().join("photos");
    let mut members = Vec::new();
    for (k, (class, n)) in [("b", 10), ("a", 10), ("c", 6)].into_iter().enumerate() {
        std::fs::create_dir_all(flat.join(class)).unwrap();
        for i in 0..n {
            let px = pattern(k as u8, 3, 16, i);
            let file = flat.join(class).join(format!("{i:03}.png"));
            image::GrayImage::from_raw(16, 16, px)
                .unwrap()
                .save(&file)
                .unwrap();
            members.push((
                format!("photos/{class}/{i:03}.png"),
                std::fs::read(&file).unwrap(),
            ));
        }
    }
    std::fs::write(flat.join("a/.DS_Store"), b"junk").unwrap();
    let (train, test) = folder::load(&flat).unwrap();
    assert_eq!(test.classes, ["a", "b", "c"]);
    assert_eq!((train.len(), test.len()), (21, 5));
    assert_eq!(test.labels, [0, 0, 1, 1, 2]);
    // a was written with pattern index 1, b with 0, c with 2.
    let want = [(1, 4), (1, 9), (0, 4), (0, 9), (2, 4)];
    for (t, (k, i)) in want.into_iter().enumerate() {
        assert_eq!(test.image(t), &pattern(k, 3, 16, i)[..], "test image {t}");
    }
    members.push(("photos/README.txt".into(), b"not a class".to_vec()));
    let archive = dir.path().join("photos.tar.gz");
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    assert_eq!(folder::load(&archive).unwrap(), (train, test));

    let layout = convlab::data::layout::Layout::default();
    let (train, test) = folder::load_as(&flat, &layout, 0.5).unwrap();
    assert_eq!((train.len(), test.len()), (13, 13));
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::rename(flat.join("c"), one.join("c")).unwrap();
    let e = folder::load(&one).unwrap_err().to_string();
    assert!(e.contains("one class only (\"c\")"), "{e}");
    let few = folder::load_as(&flat, &layout, 0.05)
        .unwrap_err()
        .to_string();
    assert!(
        few.contains("with data.test_fraction = 0.05, a class needs at least 20 images"),
        "{few}"
    );
}

/// The same pixels saved as PNG and as each other lossless format read the same. Gray TIFF and
/// PGM files stay one channel; BMP, GIF and WebP decode as colour even when gray (WebP has no
/// gray form, BMP and GIF store a palette), so a gray set of them reads as one channel with
/// `data.color_mode = "grayscale"`.
#[test]
fn image_folder_reads_every_lossless_format_as_png() {
    use convlab::data::layout::Layout;
    let write = |root: &std::path::Path, rgb: bool, exts: &[&str]| {
        for (k, class) in ["a", "b"].into_iter().enumerate() {
            for (i, ext) in exts.iter().enumerate() {
                let px = pattern(k as u8, 2, 16, i);
                let img = if rgb {
                    // Each channel its own pattern, so a swapped or dropped channel shows.
                    let g = pattern(k as u8, 2, 16, i + 100);
                    let b = pattern(k as u8, 2, 16, i + 200);
                    let rgb: Vec<u8> = (0..px.len()).flat_map(|j| [px[j], g[j], b[j]]).collect();
                    image::DynamicImage::from(image::RgbImage::from_raw(16, 16, rgb).unwrap())
                } else {
                    image::DynamicImage::from(image::GrayImage::from_raw(16, 16, px).unwrap())
                };
                for split in ["train", "test"] {
                    let d = root.join(split).join(class);
                    std::fs::create_dir_all(&d).unwrap();
                    img.save(d.join(format!("{i:03}.{ext}"))).unwrap();
                }
            }
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let colour = ["bmp", "gif", "webp", "tif", "tiff", "ppm"];
    write(&at("rgb-png"), true, &["png"; 6]);
    write(&at("rgb"), true, &colour);
    let want = folder::load(&at("rgb-png")).unwrap();
    assert_eq!(want.0.shape, [3, 16, 16]);
    assert!(folder::load(&at("rgb")).unwrap() == want, "colour files");

    write(&at("gray-png"), false, &["png"; 3]);
    write(&at("gray"), false, &["tif", "tiff", "pgm"]);
    let want = folder::load(&at("gray-png")).unwrap();
    assert_eq!(want.0.shape, [1, 16, 16]);
    assert!(folder::load(&at("gray")).unwrap() == want, "gray files");

    write(&at("gray-png3"), false, &["png"; 2]);
    write(&at("gray-palette"), false, &["bmp", "webp"]);
    let as_rgb = folder::load(&at("gray-palette")).unwrap();
    assert_eq!(as_rgb.0.shape, [3, 16, 16]);
    let gray = Layout::new(None, convlab::data::ColorMode::Grayscale);
    assert!(
        folder::load_as(&at("gray-palette"), &gray, 0.2).unwrap()
            == folder::load_as(&at("gray-png3"), &gray, 0.2).unwrap(),
        "gray BMP and WebP with color_mode grayscale"
    );
}

/// A class folder's subfolders are that class (torchvision's `ImageFolder` and Keras walk
/// them): before, `b/2019/*.png` was skipped without a word, and a class whose images all
/// sat in subfolders vanished from the set. The same tree as a .tar.gz reads the same, with
/// or without train/ and test/; hidden subfolders and files beside the classes stay out.
#[test]
fn image_folder_reads_class_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let save = |rel: &str, k: u8, i: usize, members: &mut Vec<(String, Vec<u8>)>| {
        let file = dir.path().join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        image::GrayImage::from_raw(16, 16, pattern(k, 2, 16, i))
            .unwrap()
            .save(&file)
            .unwrap();
        members.push((rel.to_string(), std::fs::read(&file).unwrap()));
    };
    // Flat: a/ holds 3 files and more/ with 2; b/ holds only 2019/ with 5.
    let mut members = Vec::new();
    for i in 0..3 {
        save(&format!("flat/a/{i:03}.png"), 0, i, &mut members);
    }
    for i in 3..5 {
        save(&format!("flat/a/more/{i:03}.png"), 0, i, &mut members);
    }
    for i in 0..5 {
        save(&format!("flat/b/2019/{i:03}.png"), 1, i, &mut members);
    }
    save("flat/a/.thumbs/x.png", 1, 99, &mut Vec::new());
    // An image beside the class folders is not a class (nor is the README below).
    save("flat/preview.png", 1, 98, &mut members);
    let (train, test) = folder::load(&dir.path().join("flat")).unwrap();
    assert_eq!(train.classes, ["a", "b"]);
    assert_eq!((train.len(), test.len()), (8, 2));
    assert_eq!(test.labels, [0, 1]);
    // Each class's fifth file in name order is its test image: a/more/004, b/2019/004.
    assert_eq!(test.image(0), &pattern(0, 2, 16, 4)[..]);
    assert_eq!(test.image(1), &pattern(1, 2, 16, 4)[..]);
    members.push(("flat/README.txt".into(), b"not a class".to_vec()));
    let archive = dir.path().join("flat.tar.gz");
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    assert_eq!(folder::load(&archive).unwrap(), (train, test));

    // Split: train/b/ and test/b/ hold only a subfolder.
    let mut members = Vec::new();
    for (split, base) in [("train", 0), ("test", 50)] {
        for i in 0..2 {
            save(
                &format!("set/{split}/a/{i:03}.png"),
                0,
                base + i,
                &mut members,
            );
            save(
                &format!("set/{split}/b/x/{i:03}.png"),
                1,
                base + i,
                &mut members,
            );
        }
    }
    let (train, test) = folder::load(&dir.path().join("set")).unwrap();
    assert_eq!((train.len(), test.len()), (4, 4));
    assert_eq!(
        (train.labels.clone(), test.image(3)),
        (vec![0, 0, 1, 1], &pattern(1, 2, 16, 51)[..])
    );
    std::fs::write(&archive, tar_gz(&members)).unwrap();
    assert_eq!(folder::load(&archive).unwrap(), (train, test));
}

/// tests/fixtures/jpeg/: 19x13 JPEGs of every sampling libjpeg writes, sequential and
/// progressive, and the pixels PIL (libjpeg-turbo 3.2.0) decodes from each; make.py there
/// made both:
///
/// ```python
/// src.save("420.jpg", quality=75, subsampling=2)  # and 422, 444, optimized, restarts, progressive, gray
/// subprocess.run(["cjpeg", "-sample", "1x2", "src.ppm"])  # and 4x1, 2x1,1x2,1x1, -rgb, -progressive -restart 1
/// open("420.pil", "wb").write(np.asarray(Image.open("420.jpg")).tobytes())
/// ```
const JPEG_FIXTURES: [&str; 12] = [
    "420",
    "422",
    "444",
    "gray",
    "h1v2",
    "h4v1",
    "mixed",
    "optimized",
    "progressive",
    "progressive-restarts",
    "restarts",
    "rgb",
];

fn jpeg_fixture(name: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg");
    let read = |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).unwrap();
    (read("jpg"), read("pil"))
}

/// Every fixture decodes to PIL's pixels exactly, so a net sees in convlab what it sees in
/// torchvision. The image crate alone (what convlab decoded with before) differs on all but
/// the gray one, by up to 4 levels: that is what this would catch.
#[test]
fn jpegs_decode_to_the_pixels_pil_gives() {
    use convlab::data::image_files::decode_image;
    let mut crate_differs = 0;
    for name in JPEG_FIXTURES {
        let (jpg, pil) = jpeg_fixture(name);
        let img = decode_image(&jpg).unwrap();
        let (w, h) = (img.width(), img.height());
        let ours = if name == "gray" {
            img.into_luma8().into_raw()
        } else {
            img.into_rgb8().into_raw()
        };
        assert_eq!((w, h), (19, 13), "{name}.jpg");
        let differ = ours.iter().zip(&pil).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{name}.jpg: {differ} values differ from PIL's");
        let theirs = image::load_from_memory(&jpg).unwrap();
        let theirs = if name == "gray" {
            theirs.into_luma8().into_raw()
        } else {
            theirs.into_rgb8().into_raw()
        };
        crate_differs += usize::from(theirs != pil);
    }
    assert_eq!(crate_differs, 11);
}

/// The folder loader reads them so: x/ holds the colour fixtures (y/ one again, as a folder
/// needs two classes); each image is PIL's pixels as channels-first bytes.
#[test]
fn an_image_folder_of_jpegs_holds_pils_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let colour: Vec<&str> = JPEG_FIXTURES.into_iter().filter(|&n| n != "gray").collect();
    for split in ["train", "test"] {
        for class in ["x", "y"] {
            std::fs::create_dir_all(dir.path().join(split).join(class)).unwrap();
        }
        for name in &colour {
            let to = dir.path().join(format!("{split}/x/{name}.jpg"));
            std::fs::write(to, jpeg_fixture(name).0).unwrap();
        }
        std::fs::write(
            dir.path().join(format!("{split}/y/420.jpg")),
            jpeg_fixture("420").0,
        )
        .unwrap();
    }
    let (train, _) = folder::load(dir.path()).unwrap();
    assert_eq!(train.shape, [3, 13, 19]);
    for (i, name) in colour.iter().enumerate() {
        let pil = jpeg_fixture(name).1;
        let chw: Vec<u8> = (0..3)
            .flat_map(|c| pil.iter().skip(c).step_by(3).copied())
            .collect();
        assert_eq!(train.image(i), &chw[..], "{name}.jpg");
    }
}

/// A JPEG cut short, or with a code no Huffman table holds, is not guessed at: the decoder
/// leaves it to the image crate, whose error (or reading) convlab gave before.
#[test]
fn a_damaged_jpeg_is_left_to_the_image_crate() {
    use convlab::data::jpeg;
    let (jpg, _) = jpeg_fixture("420");
    assert!(jpeg::decode(&jpg).is_some());
    assert!(jpeg::decode(&jpg[..jpg.len() / 2]).is_none());
    // Sixteen 1 bits (0xFF stuffed as 0xFF 0x00) where the scan's first DC code starts: the
    // standard DC table's codes are at most 9 bits, none all ones.
    let sos = jpg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let start = sos + 2 + usize::from(u16::from_be_bytes([jpg[sos + 2], jpg[sos + 3]]));
    let mut bad = jpg.clone();
    bad[start..start + 4].copy_from_slice(&[0xFF, 0x00, 0xFF, 0x00]);
    assert!(jpeg::decode(&bad).is_none());
}
