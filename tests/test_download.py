"""Resumable, verified downloads and safe unpacking, against a local HTTP server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from http_fixture import serving
from lamem_fixture import build_lamem

import memscore.download as dl
from memscore.download import download, unpack
from memscore.errors import DataError
from memscore_plugins.benchmarks.lamem.data import LaMem


@pytest.fixture
def server():
    with serving() as s:
        yield s


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(dl, "RETRY_BACKOFF", 0.0)


def tar_gz(members: dict[str, bytes | Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in members.items():
            if isinstance(content, Path):
                tf.add(content, arcname=name)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture(scope="module")
def lamem_archive(tmp_path_factory) -> bytes:
    root = build_lamem(tmp_path_factory.mktemp("src") / "lamem", 40, image_size=16, n_splits=2)
    return tar_gz({"lamem": root})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------ download

def test_fetch_downloads_verifies_unpacks_and_checks(server, lamem_archive, tmp_path):
    server.files["/lamem.tar.gz"] = lamem_archive
    root = LaMem.fetch(url=server.url + "/lamem.tar.gz", dest=tmp_path / "data" / "lamem", progress=False,
                       sha256=sha(lamem_archive))
    assert root == tmp_path / "data" / "lamem"
    report = LaMem(root).check()
    assert report["images"] == 40 and sorted(report["splits"]) == [1, 2]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["lamem"]  # archive and staging gone
    # a second fetch finds the tree and downloads nothing
    n = len(server.requests)
    assert LaMem.fetch(url=server.url + "/lamem.tar.gz", dest=root, progress=False) == root
    assert len(server.requests) == n


def test_fetch_resumes_a_broken_transfer(server, lamem_archive, tmp_path):
    server.files["/lamem.tar.gz"] = lamem_archive
    server.break_after["/lamem.tar.gz"] = [len(lamem_archive) // 2]
    root = LaMem.fetch(url=server.url + "/lamem.tar.gz", dest=tmp_path / "lamem", progress=False,
                       sha256=sha(lamem_archive), keep_archive=True)
    assert server.ranges("/lamem.tar.gz") == [None, f"bytes={len(lamem_archive) // 2}-"]
    archive = tmp_path / "lamem-lamem.tar.gz"
    assert archive.read_bytes() == lamem_archive
    assert LaMem(root).check()["images"] == 40


def test_resume_from_a_part_left_by_an_earlier_run(server, tmp_path):
    data = bytes(range(256)) * 400
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    assert download(server.url + "/f.bin", dest, sha256=sha(data), progress=False) == dest
    assert server.ranges("/f.bin") == ["bytes=1000-"]
    assert dest.read_bytes() == data and not (tmp_path / "f.bin.part").exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    data = bytes(range(256)) * 300
    server.files["/f.bin"] = data
    server.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"garbage that must not survive")
    download(server.url + "/f.bin", dest, md5=hashlib.md5(data).hexdigest(), progress=False)
    assert server.ranges("/f.bin") == ["bytes=29-"]  # asked, got 200, started over
    assert dest.read_bytes() == data


def test_complete_part_answered_with_416(server, tmp_path):
    data = b"x" * 5000
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    download(server.url + "/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False)
    assert (tmp_path / "f.bin").read_bytes() == data


def test_repeated_breaks_make_progress(server, tmp_path):
    data = bytes(range(256)) * 64
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    server.break_after["/f.bin"] = [1000, 3000]  # each break leaves more bytes in .part: not a failure
    download(server.url + "/f.bin", dest, sha256=sha(data), progress=False, retries=0)
    assert server.ranges("/f.bin") == [None, "bytes=1000-", "bytes=4000-"]
    assert dest.read_bytes() == data


def test_breaks_without_progress_give_up_and_keep_the_part(server, tmp_path):
    data = bytes(range(256)) * 64
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    server.break_after["/f.bin"] = [500, 0, 0, 0]
    with pytest.raises(DataError) as e:
        download(server.url + "/f.bin", dest, progress=False, retries=2)
    assert "failed 3 times" in str(e.value) and "500 bytes are kept" in str(e.value)
    assert server.ranges("/f.bin") == [None, "bytes=500-", "bytes=500-", "bytes=500-"]
    download(server.url + "/f.bin", dest, sha256=sha(data), progress=False)  # a later call resumes
    assert server.ranges("/f.bin")[-1] == "bytes=500-" and dest.read_bytes() == data


def test_wrong_checksum(server, tmp_path):
    data = b"some archive bytes" * 100
    server.files["/f.tar.gz"] = data
    dest = tmp_path / "f.tar.gz"
    wrong = "0" * 64
    with pytest.raises(DataError) as e:
        download(server.url + "/f.tar.gz", dest, sha256=wrong, progress=False)
    msg = str(e.value)
    assert "f.tar.gz" in msg and wrong in msg and sha(data) in msg and "\n" not in msg
    assert not dest.exists() and not (tmp_path / "f.tar.gz.part").exists()
    assert (tmp_path / "f.tar.gz.bad").read_bytes() == data  # kept aside, not resumed, not deleted
    # an existing complete file that does not match is reported, not replaced
    dest.write_bytes(b"something else")
    with pytest.raises(DataError, match="does not match"):
        download(server.url + "/f.tar.gz", dest, sha256=sha(data), progress=False)
    assert dest.read_bytes() == b"something else"


def test_sha1_verified(server, tmp_path):
    import hashlib

    data = b"brainio assembly bytes" * 50
    server.files["/a.nc"] = data
    good = hashlib.sha1(data).hexdigest()
    assert download(server.url + "/a.nc", tmp_path / "a.nc", sha1=good, progress=False).read_bytes() == data
    with pytest.raises(DataError, match="0000000000"):
        download(server.url + "/a.nc", tmp_path / "b.nc", sha1="0" * 40, progress=False)
    assert not (tmp_path / "b.nc").exists()


def test_fetch_with_wrong_checksum_leaves_no_tree(server, lamem_archive, tmp_path):
    server.files["/lamem.tar.gz"] = lamem_archive
    with pytest.raises(DataError, match="checksum mismatch"):
        LaMem.fetch(url=server.url + "/lamem.tar.gz", dest=tmp_path / "lamem", progress=False, sha256="1" * 64)
    assert not (tmp_path / "lamem").exists()


def test_malformed_checksum_is_refused(tmp_path):
    with pytest.raises(DataError, match="hex digits"):
        download("http://127.0.0.1:9/x", tmp_path / "x", sha256="abc", progress=False)


def test_http_404_is_not_retried(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404"):
        download(server.url + "/missing.tar.gz", tmp_path / "m.tar.gz", progress=False)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_reported(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(DataError, match="failed 3 times"):
        download(f"http://127.0.0.1:{port}/x.tar.gz", tmp_path / "x.tar.gz", progress=False, retries=2)


def test_existing_file_is_not_downloaded_again(server, tmp_path):
    data = b"abc" * 10
    (tmp_path / "f.bin").write_bytes(data)
    download(server.url + "/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False)
    assert server.requests == []


def test_local_path_and_file_url(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"local bytes")
    assert download(str(src), tmp_path / "a.bin", progress=False).read_bytes() == b"local bytes"
    assert download(src.as_uri(), tmp_path / "b.bin", progress=False).read_bytes() == b"local bytes"
    with pytest.raises(DataError):
        download(str(tmp_path / "nope.bin"), tmp_path / "c.bin", progress=False)


def test_fetch_from_a_local_archive(lamem_archive, tmp_path):
    archive = tmp_path / "lamem.tar.gz"
    archive.write_bytes(lamem_archive)
    root = LaMem.fetch(url=str(archive), dest=tmp_path / "out" / "lamem", progress=False)
    assert LaMem(root).check()["images"] == 40 and archive.exists()  # a user's own file is never deleted


def test_fetch_refuses_a_non_lamem_archive(server, tmp_path):
    server.files["/other.tar.gz"] = tar_gz({"something/readme.txt": b"hello"})
    with pytest.raises(DataError, match="no LaMem tree"):
        LaMem.fetch(url=server.url + "/other.tar.gz", dest=tmp_path / "lamem", progress=False)
    assert not (tmp_path / "lamem").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_fetch_refuses_a_nonempty_foreign_folder(tmp_path):
    (tmp_path / "lamem").mkdir()
    (tmp_path / "lamem" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not an \\(empty\\) LaMem folder"):
        LaMem.fetch(url="http://127.0.0.1:9/x.tar.gz", dest=tmp_path / "lamem", progress=False)


# -------------------------------------------------------------------------------------------- unpack

def test_unpack_tar_and_zip(tmp_path):
    (tmp_path / "a.tar").write_bytes(b"")
    with tarfile.open(tmp_path / "a.tar", "w") as tf:
        info = tarfile.TarInfo("top/x.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    assert unpack(tmp_path / "a.tar", tmp_path / "out1") == tmp_path / "out1"
    assert (tmp_path / "out1" / "top" / "x.txt").read_bytes() == b"hi"

    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("top/y.txt", "yo")
    (tmp_path / "out2").mkdir()
    unpack(tmp_path / "a.zip", tmp_path / "out2")
    assert (tmp_path / "out2" / "top" / "y.txt").read_text() == "yo"
    with pytest.raises(DataError, match="already exist"):  # nothing is overwritten
        unpack(tmp_path / "a.zip", tmp_path / "out2")
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="not a tar or zip"):
        unpack(tmp_path / "junk.tar.gz", tmp_path / "out3")


@pytest.mark.parametrize("evil", ["../evil", "ok/../../evil", "/tmp/evil-abs"])
def test_unpack_refuses_escaping_tar_members(tmp_path, evil):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz({"lamem/fine.txt": b"fine", evil: b"pwned"}))
    dest = tmp_path / "box" / "out"
    with pytest.raises(DataError) as e:
        unpack(archive, dest)
    assert "refusing" in str(e.value) and "evil" in str(e.value)
    assert not dest.exists()
    assert list((tmp_path / "box").iterdir()) == []  # staging removed: nothing half-written
    assert not (tmp_path / "evil").exists() and not (tmp_path / "box" / "evil").exists()


def test_unpack_refuses_links_pointing_out(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        link = tarfile.TarInfo("lamem/images/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tf.addfile(link)
    (tmp_path / "l.tar").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="symbolic link"):
        unpack(tmp_path / "l.tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpack_refuses_escaping_zip_members(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("fine.txt", "fine")
        zf.writestr("../evil", "pwned")
    with pytest.raises(DataError, match="refusing"):
        unpack(tmp_path / "evil.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil").exists()


def test_fetch_refuses_an_evil_archive(server, tmp_path):
    server.files["/lamem.tar.gz"] = tar_gz({"lamem/splits/x.txt": b"", "../evil": b"pwned"})
    with pytest.raises(DataError, match="refusing"):
        LaMem.fetch(url=server.url + "/lamem.tar.gz", dest=tmp_path / "d" / "lamem", progress=False)
    assert not (tmp_path / "d" / "lamem").exists() and not (tmp_path / "evil").exists()
