"""benchmarks/lrcat_scale.py: the generated catalogs are real-schema, realistic, and measurable."""
import sqlite3

from benchmarks.lrcat_scale import make_files, make_scale_catalog, markdown, measure_scale
from lightroom.lrcat import AS_SHOT, NO_SETTINGS, REJECT, read_lightroom


def test_generated_catalog_has_a_real_catalogs_mix_and_text_sizes(tmp_path):
    files = make_files(tmp_path / "Photos" / "all", 6)
    lrcat = make_scale_catalog(tmp_path / "s.lrcat", 300, files)
    summary = read_lightroom(lrcat).summary()
    assert sum(summary.values()) == 300
    assert summary["labelled"] > 120 and summary[AS_SHOT] > 30 and summary[REJECT] > 5 and summary[NO_SETTINGS] > 5
    db = sqlite3.connect(lrcat)
    texts = [t for (t,) in db.execute("SELECT text FROM Adobe_imageDevelopSettings")]
    copies = db.execute("SELECT count(*) FROM Adobe_images WHERE masterImage IS NOT NULL").fetchone()[0]
    plain = [t for t in texts if isinstance(t, str)]
    assert copies > 5 and 0.3 < len(plain) / len(texts) < 0.8  # compressed and plain, as Lightroom 13 mixes them
    assert 2000 < sum(map(len, plain)) / len(plain) < 5000  # develop texts of realistic size


def test_measure_scale_reports_peak_memory_and_rate_per_size(tmp_path):
    r = measure_scale(tmp_path, sizes=(40, 80), n_files=4, size=16, workers=1)
    assert [run["photos"] for run in r["runs"]] == [40, 80]
    assert all(run["peak_rss_mb"] > 20 and run["per_s"] > 0 and run["labelled"] > 10 for run in r["runs"])
    assert "kb_per_photo" in r and "| 80 |" in markdown(r)
