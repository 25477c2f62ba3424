/**
 * Small but real image bytes for the demo data set, fixtures and the benchmark: a
 * seeded pattern encoded as JPEG (jpeg-js) or PNG (hand-rolled, zlib + CRC32), and
 * images padded to an exact byte size. The same seed always gives the same bytes.
 */
import { createCipheriv, createHash } from "node:crypto";
import { crc32, deflateSync } from "node:zlib";
import jpeg from "jpeg-js";

export type ImageFormat = "jpeg" | "png";

export interface ImageSize {
  width?: number;
  height?: number;
}

export const jpegMagic = Buffer.from([0xff, 0xd8, 0xff]);
export const pngMagic = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A 32-bit seed from any string or number (FNV-1a over the text). */
export function seedOf(seed: string | number): number {
  const text = String(seed);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: tiny, fast, good enough to make images and data sets differ. */
export function makeRandom(seed: string | number): () => number {
  let state = seedOf(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random bytes at cipher speed (AES-128-CTR over zeros, key from the seed). */
export function randomBytesOf(seed: string | number, length: number): Buffer {
  const key = createHash("sha256")
    .update(`key:${String(seed)}`)
    .digest()
    .subarray(0, 16);
  const iv = createHash("sha256")
    .update(`iv:${String(seed)}`)
    .digest()
    .subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** RGB pixels of a seeded "portrait": a gradient backdrop, a head-like ellipse, some noise. */
function portraitPixels(seed: string | number, width: number, height: number): Uint8Array {
  const random = makeRandom(seed);
  const top = [random() * 255, random() * 255, random() * 255];
  const bottom = [random() * 255, random() * 255, random() * 255];
  const skin = [150 + random() * 100, 100 + random() * 90, 70 + random() * 80];
  const cx = width * (0.35 + random() * 0.3);
  const cy = height * (0.3 + random() * 0.2);
  const rx = width * (0.15 + random() * 0.1);
  const ry = height * (0.15 + random() * 0.1);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const mix = y / Math.max(1, height - 1);
    for (let x = 0; x < width; x++) {
      const dx = (x - cx) / rx;
      const dy = (y - cy) / ry;
      const inHead = dx * dx + dy * dy <= 1;
      const noise = (random() - 0.5) * 24;
      const offset = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base = inHead ? skin[c]! : top[c]! * (1 - mix) + bottom[c]! * mix;
        rgb[offset + c] = Math.max(0, Math.min(255, Math.round(base + noise)));
      }
    }
  }
  return rgb;
}

/** Distinct pictures per size; encoding is cached per look because jpeg-js spends ~11 ms building tables on every call. */
const jpegLooks = 64;
const jpegCache = new Map<string, Buffer>();

function encodeLook(look: number, width: number, height: number, quality: number): Buffer {
  const cacheKey = `${look}:${width}x${height}:${quality}`;
  let encoded = jpegCache.get(cacheKey);
  if (!encoded) {
    const rgb = portraitPixels(`look-${look}`, width, height);
    const rgba = Buffer.alloc(width * height * 4);
    for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
      rgba[j] = rgb[i]!;
      rgba[j + 1] = rgb[i + 1]!;
      rgba[j + 2] = rgb[i + 2]!;
      rgba[j + 3] = 255;
    }
    encoded = jpeg.encode({ data: rgba, width, height }, quality).data;
    jpegCache.set(cacheKey, encoded);
  }
  return encoded;
}

/** JPEG COM segments (marker + length + data), right after SOI; each holds up to 65533 bytes. */
function insertJpegSegments(base: Buffer, segments: Buffer[]): Buffer {
  return Buffer.concat([base.subarray(0, 2), ...segments, base.subarray(2)]);
}

function commentSegment(data: Uint8Array): Buffer {
  const segment = Buffer.alloc(data.length + 4);
  segment[0] = 0xff;
  segment[1] = 0xfe;
  segment.writeUInt16BE(data.length + 2, 2);
  segment.set(data, 4);
  return segment;
}

/**
 * A real baseline JPEG of a seeded portrait. The picture is one of 64 looks chosen by the
 * seed; a comment segment naming the seed makes the bytes (and MD5) unique per seed.
 */
export function makeJpeg(seed: string | number, size: ImageSize & { quality?: number } = {}): Buffer {
  const base = encodeLook(seedOf(seed) % jpegLooks, size.width ?? 96, size.height ?? 128, size.quality ?? 80);
  return insertJpegSegments(base, [commentSegment(Buffer.from(`seed=${String(seed)}`, "utf8").subarray(0, 65533))]);
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** 8-bit RGB PNG, filter 0 on every row. `extraChunks` go between IHDR and IDAT. */
export function makePng(seed: string | number, size: ImageSize = {}, extraChunks: Buffer[] = []): Buffer {
  const width = size.width ?? 64;
  const height = size.height ?? 64;
  const rgb = portraitPixels(seed, width, height);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  return Buffer.concat([
    pngMagic,
    pngChunk("IHDR", header),
    ...extraChunks,
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

const maxJpegSegment = 0xffff + 2; // marker (2) + length field counting itself and up to 65533 data bytes

/**
 * A valid image of exactly `bytes` bytes: a 16×16 picture padded with seeded random
 * bytes (see padImage), so different seeds give different content of equal size.
 */
export function makeImageOfSize(seed: string | number, bytes: number, format: ImageFormat = "jpeg"): Buffer {
  const base = format === "png" ? makePng(seed, { width: 16, height: 16 }) : encodeLook(seedOf(seed) % jpegLooks, 16, 16, 75);
  return padImage(base, bytes, seed, format);
}

/**
 * Pads a JPEG or PNG to exactly `bytes` bytes with seeded random bytes inside comment
 * segments (JPEG COM, after SOI) or a private ancillary chunk (PNG `fiLl`, after IHDR):
 * decoders skip both, so the image stays valid.
 */
export function padImage(image: Buffer, bytes: number, seed: string | number, format: ImageFormat): Buffer {
  const pad = bytes - image.length;
  if (pad === 0) return image;
  if (format === "png") {
    if (pad < 12)
      throw new RangeError(`a PNG of ${image.length} bytes pads to ${image.length} or ${image.length + 12}+ bytes, not ${bytes}`);
    const ihdrEnd = pngMagic.length + 25;
    return Buffer.concat([image.subarray(0, ihdrEnd), pngChunk("fiLl", randomBytesOf(seed, pad - 12)), image.subarray(ihdrEnd)]);
  }
  if (pad < 4) throw new RangeError(`a JPEG of ${image.length} bytes pads to ${image.length} or ${image.length + 4}+ bytes, not ${bytes}`);
  const filler = randomBytesOf(seed, pad);
  const count = Math.ceil(pad / maxJpegSegment);
  const segments: Buffer[] = [];
  let used = 0;
  for (let i = 0; i < count; i++) {
    // Spread the padding evenly so no segment is shorter than its 4-byte header.
    const total = Math.floor(pad / count) + (i < pad % count ? 1 : 0);
    segments.push(commentSegment(filler.subarray(used, used + total - 4)));
    used += total - 4;
  }
  return insertJpegSegments(image, segments);
}
