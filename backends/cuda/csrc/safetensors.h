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

// The header entry of tensor `name`: its dtype (pointing at the quoted string) and data offsets.
// 0: no such tensor; -1: the entry is damaged.
static int moec_st_entry(const moec_safetensors *st, const char *name, const char **dtype, unsigned long long *b, unsigned long long *e) {
  // The quoted name, JSON-escaped (names are ASCII in practice; quotes and backslashes escaped).
  char key[1024];
  size_t k = 0;
  key[k++] = '"';
  for (const char *c = name; *c && k < sizeof key - 4; c++) {
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
  if (!obj) return 0;
  const char *end = moec_st_skip_value(obj);
  *dtype = end ? moec_st_member(obj, end, "dtype") : NULL;
  const char *offs = end ? moec_st_member(obj, end, "data_offsets") : NULL;
  if (!*dtype || !offs || *offs != '[' || sscanf(offs, "[ %llu , %llu ]", b, e) != 2 || *e < *b) return -1;
  return 1;
}

static int moec_st_dtype_is(const char *dtype, const char *want) {
  return dtype[0] == '"' && strncmp(dtype + 1, want, strlen(want)) == 0 && dtype[1 + strlen(want)] == '"';
}

// Finds weight `w` in the pack, as compiler/weights/pack.ts writes it: one tensor in the weight's
// storage format, or for a channel format (int8) `NAME` I8 then `NAME_scale` F32 right after it,
// which the runtime reads as one piece (the rows, then their scales).
static int moec_st_find(moec_safetensors *st, const moec_weight_info *w, moec_st_tensor *t, char *why, size_t wn) {
  const char *fmt = moec_format_names[w->format];
  const char *dtype = NULL;
  unsigned long long b = 0, e = 0;
  const int found = moec_st_entry(st, w->name, &dtype, &b, &e);
  if (found == 0) {
    snprintf(why, wn, "%s has no tensor '%s' (the plan needs it as %s, %llu bytes); the pack was written for another model or plan: compile the bundle again", st->path, w->name, fmt, w->bytes);
    return 0;
  }
  if (found < 0) {
    snprintf(why, wn, "%s: the header entry of '%s' is damaged (no dtype or data_offsets)", st->path, w->name);
    return 0;
  }
  const char *want = moec_st_dtype_of(w->format);
  if (want && !moec_st_dtype_is(dtype, want)) {
    char got[32] = {0};
    sscanf(dtype, "\"%31[^\"]", got);
    snprintf(why, wn, "%s: tensor '%s' is %s, the plan stores it as %s (%s); compile the bundle again from these weights", st->path, w->name, got, fmt, want);
    return 0;
  }
  if (moec_format_kind[w->format] == MOEC_KIND_CHANNEL) {
    char scale_name[1040];
    snprintf(scale_name, sizeof scale_name, "%s_scale", w->name);
    const char *sdtype = NULL;
    unsigned long long sb = 0, se = 0;
    if (moec_st_entry(st, scale_name, &sdtype, &sb, &se) != 1 || !moec_st_dtype_is(sdtype, "F32") || sb != e) {
      snprintf(why, wn, "%s: tensor '%s' (%s) needs its F32 row scales '%s' stored right after it; the pack does not match this plan: compile the bundle again", st->path, w->name, fmt, scale_name);
      return 0;
    }
    e = se;
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
