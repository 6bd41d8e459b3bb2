// safetensors.h — reading a weight pack (a safetensors file: an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the data) with
// every check a damaged or foreign pack needs: sizes against the file, each tensor the plan
// needs present with the plan's byte size (and, for float formats, its dtype and shape).
// The header is searched for each tensor's quoted name rather than parsed into a tree.
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  FILE *f;
  const char *path;
  char *header;
  unsigned long long header_len, data_start, file_size;
} moec_safetensors;

typedef struct {
  unsigned long long begin, bytes;
} moec_st_tensor;

static int moec_st_open(moec_safetensors *st, const char *path, char *why, size_t wn) {
  memset(st, 0, sizeof *st);
  st->path = path;
  st->f = fopen(path, "rb");
  if (!st->f) {
    snprintf(why, wn, "cannot open the weight pack %s (the bundle's weights.safetensors; compile with --weights or --random-weights to write one)", path);
    return 0;
  }
  if (fseeko(st->f, 0, SEEK_END) != 0) goto bad_read;
  st->file_size = static_cast<unsigned long long>(ftello(st->f));
  unsigned char len8[8];
  if (st->file_size < 8 || fseeko(st->f, 0, SEEK_SET) != 0 || fread(len8, 1, 8, st->f) != 8) {
    snprintf(why, wn, "%s is not a safetensors file: it is %llu bytes, shorter than its 8-byte header length", path, st->file_size);
    fclose(st->f), st->f = NULL;
    return 0;
  }
  for (int i = 7; i >= 0; i--) st->header_len = (st->header_len << 8) | len8[i];
  if (st->header_len == 0 || st->header_len > 100000000ull || 8 + st->header_len > st->file_size) {
    snprintf(why, wn, "%s is not a safetensors file: its header claims %llu bytes and the file has %llu", path, st->header_len, st->file_size);
    fclose(st->f), st->f = NULL;
    return 0;
  }
  st->header = static_cast<char *>(malloc(st->header_len + 1));
  if (!st->header || fread(st->header, 1, st->header_len, st->f) != st->header_len) goto bad_read;
  st->header[st->header_len] = 0;
  st->data_start = 8 + st->header_len;
  if (st->header[0] != '{') {
    snprintf(why, wn, "%s is not a safetensors file: its header is not a JSON object", path);
    free(st->header), st->header = NULL;
    fclose(st->f), st->f = NULL;
    return 0;
  }
  return 1;
bad_read:
  snprintf(why, wn, "cannot read %s", path);
  free(st->header), st->header = NULL;
  fclose(st->f), st->f = NULL;
  return 0;
}

static void moec_st_close(moec_safetensors *st) {
  if (st->f) fclose(st->f);
  free(st->header);
  st->f = NULL, st->header = NULL;
}

static const char *moec_st_skip_ws(const char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
}

// The end of the JSON value at p (a string, number, array or object), or NULL.
static const char *moec_st_skip_value(const char *p) {
  p = moec_st_skip_ws(p);
  if (*p == '"') {
    for (p++; *p && *p != '"'; p++)
      if (*p == '\\' && p[1]) p++;
    return *p ? p + 1 : NULL;
  }
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (; *p; p++) {
      if (*p == '"') {
        p = moec_st_skip_value(p);
        if (!p) return NULL;
        p--;
      } else if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
    }
    return NULL;
  }
  while (*p && *p != ',' && *p != '}' && *p != ']') p++;
  return p;
}

// Finds `"key":` inside the object [obj, end); returns the value's start or NULL.
static const char *moec_st_member(const char *obj, const char *end, const char *key) {
  const char *p = moec_st_skip_ws(obj + 1);
  const size_t kl = strlen(key);
  while (p && p < end && *p == '"') {
    const char *kend = moec_st_skip_value(p);
    if (!kend) return NULL;
    const char *colon = moec_st_skip_ws(kend);
    if (*colon != ':') return NULL;
    const char *val = moec_st_skip_ws(colon + 1);
    if (static_cast<size_t>(kend - p) == kl + 2 && strncmp(p + 1, key, kl) == 0) return val;
    const char *vend = moec_st_skip_value(val);
    if (!vend) return NULL;
    p = moec_st_skip_ws(vend);
    if (*p == ',') p = moec_st_skip_ws(p + 1);
  }
  return NULL;
}

static const char *moec_st_dtype_of(int format) {
  switch (format) {
    case MOEC_F32: return "F32";
    case MOEC_F16: return "F16";
    case MOEC_BF16: return "BF16";
    default: return NULL;  // quantized formats: any dtype, checked by size
  }
}

// Locates the plan's weight `w` in the pack and checks it.
static int moec_st_find(moec_safetensors *st, const moec_weight_info *w, moec_st_tensor *t, char *why, size_t wn) {
  // The quoted name, JSON-escaped (names are ASCII in practice; quotes and backslashes escaped).
  char key[1024];
  size_t k = 0;
  key[k++] = '"';
  for (const char *c = w->name; *c && k < sizeof key - 4; c++) {
    if (*c == '"' || *c == '\\') key[k++] = '\\';
    key[k++] = *c;
  }
  key[k++] = '"';
  key[k] = 0;
  const char *hit = st->header;
  const char *obj = NULL;
  while ((hit = strstr(hit, key)) != NULL) {
    const char *colon = moec_st_skip_ws(hit + k);
    if (*colon == ':' && *moec_st_skip_ws(colon + 1) == '{') {
      obj = moec_st_skip_ws(colon + 1);
      break;
    }
    hit += k;
  }
  const char *fmt = moec_format_names[w->format];
  if (!obj) {
    snprintf(why, wn, "%s has no tensor '%s' (the plan needs it as %s, %llu bytes); the pack was written for another model or plan: compile the bundle again", st->path, w->name, fmt, w->bytes);
    return 0;
  }
  const char *end = moec_st_skip_value(obj);
  const char *dtype = end ? moec_st_member(obj, end, "dtype") : NULL;
  const char *offs = end ? moec_st_member(obj, end, "data_offsets") : NULL;
  unsigned long long b = 0, e = 0;
  if (!dtype || !offs || *offs != '[' || sscanf(offs, "[ %llu , %llu ]", &b, &e) != 2 || e < b) {
    snprintf(why, wn, "%s: the header entry of '%s' is damaged (no dtype or data_offsets)", st->path, w->name);
    return 0;
  }
  const char *want = moec_st_dtype_of(w->format);
  if (want && !(dtype[0] == '"' && strncmp(dtype + 1, want, strlen(want)) == 0 && dtype[1 + strlen(want)] == '"')) {
    char got[32] = {0};
    sscanf(dtype, "\"%31[^\"]", got);
    snprintf(why, wn, "%s: tensor '%s' is %s, the plan stores it as %s (%s); compile the bundle again from these weights", st->path, w->name, got, fmt, want);
    return 0;
  }
  if (e - b != w->bytes) {
    snprintf(why, wn, "%s: tensor '%s' has %llu bytes, the plan needs %llu (%s); the pack does not match this plan: compile the bundle again", st->path, w->name, e - b, w->bytes, fmt);
    return 0;
  }
  if (st->data_start + e > st->file_size) {
    snprintf(why, wn, "%s is truncated: tensor '%s' ends at byte %llu of the data, the file has %llu", st->path, w->name, e, st->file_size - st->data_start);
    return 0;
  }
  t->begin = st->data_start + b;
  t->bytes = e - b;
  return 1;
}

static int moec_st_read(moec_safetensors *st, const moec_st_tensor *t, size_t off, void *dst, size_t n, char *why, size_t wn) {
  if (fseeko(st->f, static_cast<off_t>(t->begin + off), SEEK_SET) != 0 || fread(dst, 1, n, st->f) != n) {
    snprintf(why, wn, "reading %s failed at byte %llu", st->path, t->begin + off);
    return 0;
  }
  return 1;
}
