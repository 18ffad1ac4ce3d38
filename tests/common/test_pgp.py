"""meterhub_common.pgp against the real gpg binary, with keyrings in temporary directories."""

from __future__ import annotations

import asyncio
import os
import pickle
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meterhub_common.pgp import Keyring, PgpError

PAYLOAD = b"00000001,1044372000000000001,4,20240101000000,20240101235900,Y,N\n" * 50
FIVE_MB = 5 * 1024 * 1024


@dataclass
class Party:
    keyring: Keyring
    fpr: str


@dataclass
class World:
    repo: Party  # the repository: decrypts, holds the TDSP's and the REP's public keys
    tdsp: Party  # a TDSP: encrypts to the repository and signs
    rep: Party  # a REP: a recipient whose secret key the repository does not hold
    other: Party  # a signer the repository knows but does not expect


def _party(base: Path, name: str) -> Party:
    keyring = Keyring(base / name)
    return Party(keyring, keyring.generate_key(name.title(), f"{name}@example.com"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("pgp")
    parties = [_party(base, name) for name in ("repo", "tdsp", "rep", "other")]
    repo, tdsp, rep, other = parties
    for holder, held in [(repo, tdsp), (repo, rep), (repo, other), (tdsp, repo), (other, repo)]:
        holder.keyring.import_keys(held.keyring.export_public(held.fpr))
    yield World(repo, tdsp, rep, other)
    for party in parties:
        party.keyring.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Keyring]:
    with Keyring(tmp_path / "gnupg") as keyring:
        yield keyring


# -- keyring and keys -------------------------------------------------------------------------


def test_home_is_private_and_key_generation_is_fast(fresh: Keyring) -> None:
    assert stat.S_IMODE(fresh.home.stat().st_mode) == 0o700
    started = time.monotonic()
    fpr = fresh.generate_key("Speedy", "speedy@example.com")
    assert time.monotonic() - started < 2
    assert len(fpr) == 40 and fpr == fpr.upper()
    assert fresh.has_key(fpr) and fresh.has_key(fpr, secret=True)
    assert "BEGIN PGP PUBLIC KEY BLOCK" in fresh.export_public(fpr)
    assert "BEGIN PGP PRIVATE KEY BLOCK" in fresh.export_secret(fpr, None)


def test_existing_loose_home_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "loose"
    home.mkdir()
    os.chmod(home, 0o750)  # noqa: S103 - the loose mode is what is being tested
    with Keyring(home) as keyring:
        assert stat.S_IMODE(keyring.home.stat().st_mode) == 0o700


def test_too_deep_home_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too deep"):
        Keyring(tmp_path / ("d" * 120))


def test_parameter_injection_is_refused(fresh: Keyring) -> None:
    with pytest.raises(ValueError):
        fresh.generate_key("Evil\nPassphrase: x", "evil@example.com")


def test_unknown_key_export_is_key_error(fresh: Keyring) -> None:
    with pytest.raises(KeyError):
        fresh.export_public("0" * 40)
    with pytest.raises(ValueError):
        fresh.export_public("alice@example.com")


def test_import_returns_fingerprints_and_rejects_garbage(world: World, fresh: Keyring) -> None:
    armored = world.tdsp.keyring.export_public(world.tdsp.fpr)
    assert fresh.import_keys(armored) == [world.tdsp.fpr]
    with pytest.raises(PgpError) as excinfo:
        fresh.import_keys("not a key")
    assert excinfo.value.code == "bad-key"


def test_inspect_accepts_fresh_key_and_parses_expiry(world: World, fresh: Keyring) -> None:
    info = world.repo.keyring.inspect_public_key(world.rep.keyring.export_public(world.rep.fpr))
    assert info.fingerprint == world.rep.fpr
    assert info.uids == ("Rep <rep@example.com>",)
    assert info.expires is None and info.can_encrypt
    # Inspection keeps nothing.
    assert not fresh.has_key(world.rep.fpr)

    fpr = fresh.generate_key("Jürgen Daily", "daily@example.com", expire="1d")
    info = fresh.inspect_public_key(fresh.export_public(fpr))
    assert info.uids == ("Jürgen Daily <daily@example.com>",)
    assert info.expires is not None
    assert abs(info.expires - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=5)


def _expect_bad_key(keyring: Keyring, armored: str, match: str) -> None:
    with pytest.raises(PgpError, match=match) as excinfo:
        keyring.inspect_public_key(armored)
    assert excinfo.value.code == "bad-key"


def test_inspect_rejects_expired_key(fresh: Keyring) -> None:
    # gpg accepts a creation date in the past, which makes a key that expired long ago.
    spec = fresh.gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        key_usage="sign",
        subkey_type="ECDH",
        subkey_curve="cv25519",
        subkey_usage="encrypt",
        name_real="Old",
        name_email="old@example.com",
        creation_date="20200101T000000",
        expire_date="20200201T000000",
        no_protection=True,
    )
    fpr = str(fresh.gpg.gen_key(spec).fingerprint)
    _expect_bad_key(fresh, fresh.export_public(fpr), "expired")


def _sign_only_key(keyring: Keyring) -> str:
    spec = keyring.gpg.gen_key_input(
        key_type="EDDSA",
        key_curve="ed25519",
        key_usage="sign",
        name_real="Signer",
        name_email="signer@example.com",
        no_protection=True,
    )
    return str(keyring.gpg.gen_key(spec).fingerprint)


def test_inspect_rejects_sign_only_key(fresh: Keyring) -> None:
    fpr = _sign_only_key(fresh)
    _expect_bad_key(fresh, fresh.export_public(fpr), "no usable encryption")


def test_inspect_rejects_revoked_key(fresh: Keyring, tmp_path: Path) -> None:
    fpr = fresh.generate_key("Revoked", "revoked@example.com")
    # gpg 2.2 writes a revocation certificate for every new key, defused with a leading ':'.
    certificate = (fresh.home / "openpgp-revocs.d" / f"{fpr}.rev").read_text()
    fresh.import_keys(certificate.replace(":-----BEGIN", "-----BEGIN"))
    _expect_bad_key(fresh, fresh.export_public(fpr), "revoked")


def test_inspect_rejects_secret_garbage_and_several_keys(world: World) -> None:
    repo = world.repo.keyring
    _expect_bad_key(repo, world.rep.keyring.export_secret(world.rep.fpr, None), "secret")
    _expect_bad_key(repo, "hello", "not an ASCII-armored")
    _expect_bad_key(
        repo,
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm9wZQ==\n=abcd\n"
        "-----END PGP PUBLIC KEY BLOCK-----",
        "exactly one key",
    )
    both = repo.gpg.export_keys([world.rep.fpr, world.tdsp.fpr], armor=True)
    _expect_bad_key(repo, both, "exactly one key")


# -- encryption and decryption ------------------------------------------------------------------


@pytest.mark.parametrize("armor", [True, False])
def test_round_trip(world: World, armor: bool) -> None:
    ciphertext = world.tdsp.keyring.encrypt(PAYLOAD, world.repo.fpr, armor=armor)
    assert ciphertext.startswith(b"-----BEGIN PGP MESSAGE-----") == armor
    assert world.repo.keyring.decrypt(ciphertext) == PAYLOAD


def test_encrypt_to_unusable_recipient_is_bad_key(world: World, fresh: Keyring) -> None:
    # Big enough that gpg gives up before reading it all: still a clear answer, no pipe error.
    with pytest.raises(PgpError, match="not in the keyring") as excinfo:
        world.tdsp.keyring.encrypt(b"x" * FIVE_MB, world.rep.fpr)
    assert excinfo.value.code == "bad-key"
    signer = _sign_only_key(fresh)
    with pytest.raises(PgpError, match="sign-only") as excinfo:
        fresh.encrypt(PAYLOAD, signer)
    assert excinfo.value.code == "bad-key"


def _decrypt_error(keyring: Keyring, data: bytes, **kwargs: str) -> PgpError:
    with pytest.raises(PgpError) as excinfo:
        keyring.decrypt(data, **kwargs)
    return excinfo.value


def test_encrypted_to_someone_else_is_wrong_recipient(world: World) -> None:
    ciphertext = world.repo.keyring.encrypt(PAYLOAD, world.rep.fpr)
    error = _decrypt_error(world.repo.keyring, ciphertext)
    assert error.code == "wrong-recipient"
    assert pickle.loads(pickle.dumps(error)).code == "wrong-recipient"  # noqa: S301
    # A big file: gpg gives up before reading it all, which must not turn into a pipe error.
    big = world.repo.keyring.encrypt(os.urandom(FIVE_MB), world.rep.fpr, armor=False)
    assert _decrypt_error(world.repo.keyring, big).code == "wrong-recipient"


def test_passphrase_encrypted_is_wrong_recipient(world: World) -> None:
    symmetric = world.tdsp.keyring.gpg.encrypt(
        PAYLOAD,
        None,
        symmetric="AES256",
        passphrase="shared",
        armor=False,
        extra_args=["--s2k-count", "65536"],  # the calibrated default costs a second
    ).data
    assert _decrypt_error(world.repo.keyring, symmetric).code == "wrong-recipient"
    # Even when the passphrase we pass for our own key happens to open it.
    error = _decrypt_error(world.repo.keyring, symmetric, passphrase="shared")
    assert error.code == "wrong-recipient"


@pytest.mark.parametrize(
    "data",
    [b"", b"this is not OpenPGP data\n", b"\x00" * 4096, b"-----BEGIN PGP MESSAGE-----\n\n"],
    ids=["empty", "text", "zeros", "armor-header-only"],
)
def test_garbage_is_not_encrypted(world: World, data: bytes) -> None:
    assert _decrypt_error(world.repo.keyring, data).code == "not-encrypted"


def test_big_garbage_and_signed_only_are_not_encrypted(world: World) -> None:
    assert _decrypt_error(world.repo.keyring, b"x" * FIVE_MB).code == "not-encrypted"
    signed = world.tdsp.keyring.gpg.sign(PAYLOAD, keyid=world.tdsp.fpr).data
    assert _decrypt_error(world.repo.keyring, signed).code == "not-encrypted"


@pytest.mark.parametrize("armor", [True, False])
def test_truncated_or_flipped_is_not_decryptable(world: World, armor: bool) -> None:
    ciphertext = world.tdsp.keyring.encrypt(os.urandom(200_000), world.repo.fpr, armor=armor)
    truncated = ciphertext[: len(ciphertext) // 2]
    assert _decrypt_error(world.repo.keyring, truncated).code == "not-decryptable"
    if not armor:
        flipped = bytearray(ciphertext)
        flipped[len(flipped) // 2] ^= 0xFF
        assert _decrypt_error(world.repo.keyring, bytes(flipped)).code == "not-decryptable"


def test_signature_by_expected_key_passes(world: World) -> None:
    ciphertext = world.tdsp.keyring.encrypt(PAYLOAD, world.repo.fpr, sign_with=world.tdsp.fpr)
    assert world.repo.keyring.decrypt(ciphertext, expected_signer=world.tdsp.fpr) == PAYLOAD
    # Without expectations a signed file decrypts too.
    assert world.repo.keyring.decrypt(ciphertext) == PAYLOAD


def test_unsigned_or_wrongly_signed_is_bad_signature(world: World) -> None:
    repo = world.repo.keyring
    unsigned = world.tdsp.keyring.encrypt(PAYLOAD, world.repo.fpr)
    error = _decrypt_error(repo, unsigned, expected_signer=world.tdsp.fpr)
    assert error.code == "bad-signature" and "not signed" in error.detail

    by_other = world.other.keyring.encrypt(PAYLOAD, world.repo.fpr, sign_with=world.other.fpr)
    error = _decrypt_error(repo, by_other, expected_signer=world.tdsp.fpr)
    assert error.code == "bad-signature" and world.other.fpr in error.detail

    # Signed by a key the repository has never seen: gpg cannot check it at all.
    stranger = Keyring(world.other.keyring.home.parent / "stranger")
    try:
        fpr = stranger.generate_key("Stranger", "stranger@example.com")
        stranger.import_keys(world.repo.keyring.export_public(world.repo.fpr))
        unknown = stranger.encrypt(PAYLOAD, world.repo.fpr, sign_with=fpr)
    finally:
        stranger.close()
    assert _decrypt_error(repo, unknown, expected_signer=world.tdsp.fpr).code == "bad-signature"
    assert repo.decrypt(unknown) == PAYLOAD


def test_file_round_trip_and_failures_leave_nothing(world: World, tmp_path: Path) -> None:
    plain = tmp_path / "usage.csv"
    plain.write_bytes(os.urandom(FIVE_MB // 2).hex().encode())  # 5 MB of text
    sealed = tmp_path / "usage.csv.asc"
    world.tdsp.keyring.encrypt_file(plain, sealed, world.repo.fpr, sign_with=world.tdsp.fpr)
    assert sealed.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")

    opened = tmp_path / "opened.csv"
    world.repo.keyring.decrypt_file(sealed, opened, expected_signer=world.tdsp.fpr)
    assert opened.read_bytes() == plain.read_bytes()

    refused = tmp_path / "refused.csv"
    with pytest.raises(PgpError) as excinfo:
        world.repo.keyring.decrypt_file(sealed, refused, expected_signer=world.other.fpr)
    assert excinfo.value.code == "bad-signature"
    truncated = tmp_path / "truncated.asc"
    truncated.write_bytes(sealed.read_bytes()[: FIVE_MB // 2])
    with pytest.raises(PgpError) as excinfo:
        world.repo.keyring.decrypt_file(truncated, refused)
    assert excinfo.value.code == "not-decryptable"
    assert not refused.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("armor_here", [True, False], ids=["python-armor", "gpg-armor"])
@pytest.mark.parametrize("size", [0, 47, 48 * (1 << 14), 3 * 48 * (1 << 14) + 1000])
def test_stream_round_trip(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, armor_here: bool, size: int
) -> None:
    from meterhub_common import pgp

    if armor_here and pgp._crc24 is None:
        pytest.skip("anycrc is not installed")
    if not armor_here:
        monkeypatch.setattr(pgp, "_crc24", None)
    data = os.urandom(size)
    sealed = tmp_path / "stream.asc"
    with world.tdsp.keyring.encrypt_stream(world.repo.fpr, sealed) as pipe:
        for start in range(0, size, 100_000):
            pipe.write(data[start : start + 100_000])
    armored = sealed.read_bytes()
    assert armored.startswith(b"-----BEGIN PGP MESSAGE-----\n\n")
    assert armored.endswith(b"\n-----END PGP MESSAGE-----\n")
    assert max(len(line) for line in armored.splitlines()) <= 64  # RFC 4880: at most 76
    # gpg checks the CRC24 line and fails on a wrong one.
    assert world.repo.keyring.decrypt(armored) == data
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_stream_failures_leave_nothing(world: World, tmp_path: Path) -> None:
    sealed = tmp_path / "stream.asc"
    with (
        pytest.raises(PgpError) as excinfo,
        world.tdsp.keyring.encrypt_stream(world.rep.fpr, sealed) as pipe,
    ):
        for _ in range(20):
            pipe.write(b"x" * FIVE_MB)
    assert excinfo.value.code == "bad-key"
    with (
        pytest.raises(RuntimeError, match="half-way"),
        world.tdsp.keyring.encrypt_stream(world.repo.fpr, sealed) as pipe,
    ):
        pipe.write(PAYLOAD)
        raise RuntimeError("the data failed half-way")
    assert not sealed.exists()
    assert not list(tmp_path.iterdir())


def test_passphrase_protected_key(tmp_path: Path) -> None:
    with Keyring(tmp_path / "locked", s2k_count=65536) as locked:
        fpr = locked.generate_key("Locked", "locked@example.com", passphrase="s3cret")
        ciphertext = locked.encrypt(PAYLOAD, fpr)
        # Our own setup at fault: not the sender's problem, so not a PgpError.
        with pytest.raises(RuntimeError, match="passphrase"):
            locked.decrypt(ciphertext)
        with pytest.raises(RuntimeError, match="passphrase"):
            locked.decrypt(ciphertext, passphrase="wrong")
        assert locked.decrypt(ciphertext, passphrase="s3cret") == PAYLOAD
        signed = locked.encrypt(PAYLOAD, fpr, sign_with=fpr, passphrase="s3cret")
        assert locked.decrypt(signed, passphrase="s3cret", expected_signer=fpr) == PAYLOAD
        with pytest.raises(RuntimeError, match="passphrase"):
            locked.export_secret(fpr, "wrong")
        secret = locked.export_secret(fpr, "s3cret")
    with Keyring(tmp_path / "moved", s2k_count=65536) as moved:
        assert moved.import_keys(secret) == [fpr]
        assert moved.decrypt(ciphertext, passphrase="s3cret") == PAYLOAD


# -- async --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_twins_run_in_parallel(world: World, tmp_path: Path) -> None:
    tdsp, repo = world.tdsp.keyring, world.repo.keyring
    payloads = [PAYLOAD + str(i).encode() for i in range(6)]
    sealed = await asyncio.gather(
        *(tdsp.aencrypt(p, world.repo.fpr, sign_with=world.tdsp.fpr) for p in payloads)
    )
    opened = await asyncio.gather(
        *(repo.adecrypt(c, expected_signer=world.tdsp.fpr) for c in sealed)
    )
    assert opened == payloads
    with pytest.raises(PgpError) as excinfo:
        await repo.adecrypt(b"garbage")
    assert excinfo.value.code == "not-encrypted"

    plain, sealed_path, opened_path = tmp_path / "a", tmp_path / "a.gpg", tmp_path / "a.out"
    plain.write_bytes(PAYLOAD)
    await tdsp.aencrypt_file(plain, sealed_path, world.repo.fpr, armor=False)
    await repo.adecrypt_file(sealed_path, opened_path)
    assert opened_path.read_bytes() == PAYLOAD

    armored = await world.rep.keyring.aexport_public(world.rep.fpr)
    info = await repo.ainspect_public_key(armored)
    assert info.fingerprint == world.rep.fpr
    async with asyncio.timeout(10):
        with Keyring(tmp_path / "k") as fresh:
            fpr = await fresh.agenerate_key("Async", "async@example.com")
            assert await fresh.aimport_keys(armored) == [world.rep.fpr]
            assert fresh.has_key(fpr)
