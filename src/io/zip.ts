import { closeSync, createReadStream, readSync } from 'node:fs';
import { createInflateRaw, crc32, inflateRawSync } from 'node:zlib';
import { SyswardenError } from '../errors.js';
import { openInputFile } from './safe-file.js';

/*
 * Members of a zip archive, read in place (PKWARE's APPNOTE.TXT 6.3: the
 * end-of-central-directory record, its Zip64 form, the central directory,
 * and each member's local header). LID-DS 2021 ships every recording as a
 * zip of its events, metadata, resource and packet files: a dataset that
 * unzipped takes several times the disk it takes zipped, so traces are
 * streamed out of the archive instead, inflated chunk by chunk.
 *
 * An archive is an input from elsewhere: every size and offset is checked
 * against the file before it is used, the directory is bounded, a member's
 * bytes are checked against its stated size and CRC-32 as they stream, and
 * what cannot be read (encryption, a method other than stored or deflate,
 * several disks) is refused by name.
 */

export interface ZipMember {
  readonly name: string;
  /** 0 stored, 8 deflate. */
  readonly method: number;
  readonly flags: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc: number;
  readonly localOffset: number;
}

export interface ZipDirectory {
  readonly path: string;
  readonly fileSize: number;
  /** Files, not directories, in the archive's order. */
  readonly members: readonly ZipMember[];
}

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;
const END64_LOCATOR_SIG = 0x07064b50;
const END64_SIG = 0x06064b50;
const END_BYTES = 22;
const END64_LOCATOR_BYTES = 20;
const END64_BYTES = 56;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const ZIP64_EXTRA = 0x0001;
const MAX_COMMENT = 0xffff;
/** A recording's archive holds a handful of members; a directory this large is no dataset's. */
const MAX_DIRECTORY_BYTES = 64 << 20;
const MAX_MEMBERS = 1 << 20;

/** Whether a file's first bytes are a zip member's local header. */
export function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === LOCAL_SIG;
}

/** Whether an opened file starts as a zip archive does. */
export function isZipFile(fd: number): boolean {
  const head = Buffer.alloc(4);
  return readSync(fd, head, 0, 4, 0) === 4 && looksLikeZip(head);
}

/** Whether a file is a zip archive (refused as any input is when it is no regular file). */
export function isZipArchive(path: string, what: string): boolean {
  const { fd } = openInputFile(path, { what, maxBytes: Number.MAX_SAFE_INTEGER });
  try {
    return isZipFile(fd);
  } finally {
    closeSync(fd);
  }
}

function broken(path: string, why: string): SyswardenError {
  return new SyswardenError('ERR_ZIP', `zip archive ${path} cannot be read: ${why}. Fix: download or copy the archive again (unzip -t ${path} tests it).`);
}

function readAt(fd: number, path: string, offset: number, length: number, fileSize: number): Buffer {
  if (offset < 0 || length < 0 || offset + length > fileSize) throw broken(path, `a record at byte ${offset} (${length} bytes) lies past the end of the file (${fileSize} bytes)`);
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, offset + got);
    if (n === 0) throw broken(path, 'the file shrank while it was read');
    got += n;
  }
  return buf;
}

function u64(buf: Buffer, at: number, path: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw broken(path, 'a Zip64 size or offset is beyond 2^53 bytes');
  return Number(v);
}

/** The end record: where the central directory is and how many members it lists (Zip64 where the 32-bit fields overflow). */
function findEnd(fd: number, path: string, fileSize: number): { entries: number; dirSize: number; dirOffset: number } {
  const tailLength = Math.min(fileSize, END_BYTES + MAX_COMMENT);
  const tail = readAt(fd, path, fileSize - tailLength, tailLength, fileSize);
  let at = -1;
  // The last signature whose comment ends exactly at the end of the file (a comment may hold the signature's bytes).
  for (let i = tail.length - END_BYTES; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END_SIG && i + END_BYTES + tail.readUInt16LE(i + 20) === tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw broken(path, 'it has no end-of-central-directory record (a truncated download, or not a zip archive)');
  const endOffset = fileSize - tailLength + at;
  const disk = tail.readUInt16LE(at + 4);
  const dirDisk = tail.readUInt16LE(at + 6);
  let entries = tail.readUInt16LE(at + 10);
  let dirSize = tail.readUInt32LE(at + 12);
  let dirOffset = tail.readUInt32LE(at + 16);
  let end = endOffset;
  if (entries === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff || disk === 0xffff) {
    const locAt = endOffset - END64_LOCATOR_BYTES;
    const loc = readAt(fd, path, locAt, END64_LOCATOR_BYTES, fileSize);
    if (loc.readUInt32LE(0) !== END64_LOCATOR_SIG) throw broken(path, 'its end record overflows but no Zip64 end record is located');
    const end64At = u64(loc, 8, path);
    const e = readAt(fd, path, end64At, END64_BYTES, fileSize);
    if (e.readUInt32LE(0) !== END64_SIG) throw broken(path, 'its Zip64 end record is not where its locator says');
    if (e.readUInt32LE(16) !== 0 || e.readUInt32LE(20) !== 0) throw broken(path, 'it spans several disks');
    entries = u64(e, 32, path);
    dirSize = u64(e, 40, path);
    dirOffset = u64(e, 48, path);
    end = end64At;
  } else if (disk !== 0 || dirDisk !== 0) {
    throw broken(path, 'it spans several disks');
  }
  if (dirOffset + dirSize > end) throw broken(path, `its central directory (${dirSize} bytes at ${dirOffset}) overlaps its end record`);
  if (dirSize > MAX_DIRECTORY_BYTES || entries > MAX_MEMBERS) throw broken(path, `its central directory lists ${entries} members in ${dirSize} bytes, more than a recording's archive holds (at most ${MAX_MEMBERS} in ${MAX_DIRECTORY_BYTES} bytes)`);
  return { entries, dirSize, dirOffset };
}

/** The Zip64 extra field's 64-bit values, for the fields whose 32-bit value is 0xffffffff (in the order APPNOTE gives). */
function zip64Fields(extra: Buffer, want: { size: boolean; compressed: boolean; offset: boolean }, path: string, name: string): { size?: number; compressed?: number; offset?: number } {
  for (let i = 0; i + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    if (i + 4 + len > extra.length) break;
    if (id === ZIP64_EXTRA) {
      const out: { size?: number; compressed?: number; offset?: number } = {};
      let p = i + 4;
      const take = (): number => {
        if (p + 8 > i + 4 + len) throw broken(path, `member ${name}'s Zip64 field is too short`);
        const v = u64(extra, p, path);
        p += 8;
        return v;
      };
      if (want.size) out.size = take();
      if (want.compressed) out.compressed = take();
      if (want.offset) out.offset = take();
      return out;
    }
    i += 4 + len;
  }
  throw broken(path, `member ${name} needs a Zip64 field for its sizes, and has none`);
}

/** The archive's members (files only), from its central directory. */
export function readZipDirectory(path: string): ZipDirectory {
  const { fd, size: fileSize } = openInputFile(path, { what: 'zip archive', maxBytes: Number.MAX_SAFE_INTEGER });
  try {
    const { entries, dirSize, dirOffset } = findEnd(fd, path, fileSize);
    const dir = readAt(fd, path, dirOffset, dirSize, fileSize);
    const members: ZipMember[] = [];
    let p = 0;
    for (let k = 0; k < entries; k++) {
      if (p + CENTRAL_BYTES > dir.length || dir.readUInt32LE(p) !== CENTRAL_SIG) throw broken(path, `its central directory ends after ${k} of the ${entries} members it lists`);
      const flags = dir.readUInt16LE(p + 8);
      const method = dir.readUInt16LE(p + 10);
      const crc = dir.readUInt32LE(p + 16);
      let compressedSize = dir.readUInt32LE(p + 20);
      let size = dir.readUInt32LE(p + 24);
      const nameLength = dir.readUInt16LE(p + 28);
      const extraLength = dir.readUInt16LE(p + 30);
      const commentLength = dir.readUInt16LE(p + 32);
      let localOffset = dir.readUInt32LE(p + 42);
      const next = p + CENTRAL_BYTES + nameLength + extraLength + commentLength;
      if (next > dir.length) throw broken(path, `member ${k + 1}'s directory entry runs past the directory`);
      const name = dir.toString('utf8', p + CENTRAL_BYTES, p + CENTRAL_BYTES + nameLength);
      const want = { size: size === 0xffffffff, compressed: compressedSize === 0xffffffff, offset: localOffset === 0xffffffff };
      if (want.size || want.compressed || want.offset) {
        const z = zip64Fields(dir.subarray(p + CENTRAL_BYTES + nameLength, p + CENTRAL_BYTES + nameLength + extraLength), want, path, name);
        size = z.size ?? size;
        compressedSize = z.compressed ?? compressedSize;
        localOffset = z.offset ?? localOffset;
      }
      if (localOffset + LOCAL_BYTES + compressedSize > dirOffset) throw broken(path, `member ${name} (${compressedSize} bytes at ${localOffset}) overlaps the central directory`);
      if (!name.endsWith('/')) members.push({ name, method, flags, compressedSize, size, crc, localOffset });
      p = next;
    }
    return { path, fileSize, members };
  } finally {
    closeSync(fd);
  }
}

/**
 * A member's bytes, inflated as they are read: chunks of at most a few tens
 * of KiB, never the whole member. Its size and CRC-32 are checked against
 * the directory as it streams (a member that inflates past its stated size
 * stops there): a corrupt archive is an error, never a shorter trace.
 */
export async function* zipMemberBytes(zip: ZipDirectory, member: ZipMember): AsyncGenerator<Buffer> {
  const { fd, start } = openMember(zip, member);
  if (member.compressedSize === 0) {
    closeSync(fd);
    if (member.size !== 0) throw broken(zip.path, `member ${member.name} states ${member.size} bytes and holds none`);
    return;
  }
  // The read stream owns the descriptor from here, and closes it however the reading ends.
  const raw = createReadStream('', { fd, start, end: start + member.compressedSize - 1, autoClose: true, highWaterMark: 64 << 10 });
  const out = member.method === 8 ? raw.pipe(createInflateRaw()) : raw;
  if (out !== raw) raw.on('error', (e) => out.destroy(e));
  let got = 0;
  let crc = 0;
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      got += chunk.length;
      if (got > member.size) throw broken(zip.path, `member ${member.name} inflates past its stated ${member.size} bytes`);
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (e) {
    if (e instanceof SyswardenError) throw e;
    throw broken(zip.path, `member ${member.name}: ${(e as Error).message}`);
  } finally {
    raw.destroy();
    if (out !== raw) out.destroy();
  }
  checkMember(zip, member, got, crc);
}

/** Refuses a member whose bytes are not the size and CRC-32 its directory entry states. */
function checkMember(zip: ZipDirectory, member: ZipMember, size: number, crc: number): void {
  if (size !== member.size) throw broken(zip.path, `member ${member.name} holds ${size} bytes, not the ${member.size} its directory states`);
  if (crc >>> 0 !== member.crc) throw broken(zip.path, `member ${member.name} fails its CRC-32 check`);
}

/** The archive opened at a readable member's data (after its local header); refuses what cannot be read. */
function openMember(zip: ZipDirectory, member: ZipMember): { fd: number; start: number } {
  const where = `${zip.path}:${member.name}`;
  if (member.flags & 1) throw new SyswardenError('ERR_ZIP', `${where} is encrypted. Fix: unzip it with its password and give the file itself.`);
  if (member.method !== 0 && member.method !== 8) {
    throw new SyswardenError('ERR_ZIP', `${where} is compressed with method ${member.method}; syswarden reads stored (0) and deflated (8) members. Fix: unzip it and give the file itself.`);
  }
  const { fd } = openInputFile(zip.path, { what: 'zip archive', maxBytes: Number.MAX_SAFE_INTEGER });
  try {
    const local = readAt(fd, zip.path, member.localOffset, LOCAL_BYTES, zip.fileSize);
    if (local.readUInt32LE(0) !== LOCAL_SIG) throw broken(zip.path, `member ${member.name}'s local header is not where the directory says`);
    const start = member.localOffset + LOCAL_BYTES + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (start + member.compressedSize > zip.fileSize) throw broken(zip.path, `member ${member.name} runs past the end of the file`);
    return { fd, start };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** A whole member of at most `maxBytes` inflated bytes (metadata), checked like zipMemberBytes. */
export function readZipMemberSync(zip: ZipDirectory, member: ZipMember, maxBytes: number): Buffer {
  const where = `${zip.path}:${member.name}`;
  if (member.size > maxBytes) throw new SyswardenError('ERR_ZIP', `${where} is ${member.size} bytes, more than the ${maxBytes} bytes such a file holds. Fix: check the archive.`);
  // Deflate keeps even incompressible bytes within a few bytes per 64 KiB block of their size: twice it is a broken entry.
  if (member.compressedSize > 2 * maxBytes + 1024) throw broken(zip.path, `member ${member.name} stores ${member.compressedSize} bytes for ${member.size}`);
  const { fd, start } = openMember(zip, member);
  let bytes: Buffer;
  try {
    const stored = readAt(fd, zip.path, start, member.compressedSize, zip.fileSize);
    try {
      bytes = member.method === 8 ? inflateRawSync(stored, { maxOutputLength: maxBytes + 1 }) : stored;
    } catch (e) {
      throw broken(zip.path, `member ${member.name}: ${(e as Error).message}`);
    }
  } finally {
    closeSync(fd);
  }
  checkMember(zip, member, bytes.length, crc32(bytes));
  return bytes;
}
