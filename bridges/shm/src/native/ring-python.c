/*
 * The C library behind the Python side (python/millrace_shm/_native.py loads it with ctypes).
 * It is the same ring core as the Node addon (ring-core.h, RING.md), so both languages share one
 * implementation of framing, memory ordering and waiting. Python maps the file itself (mmap) and
 * passes the mapping's address here.
 *
 * Functions that only touch the ring are called through ctypes.CDLL (the GIL is released, so a
 * wait never stalls other Python threads). mrp_read_batch builds Python objects and is called
 * through ctypes.PyDLL (GIL held). It declares the few CPython functions it needs itself, all from
 * the stable ABI, so the library needs no Python headers and works with any CPython 3.
 */
#include <stdlib.h>

#include "ring-core.h"

typedef struct _object PyObject;
extern PyObject *PyList_New(intptr_t size);
extern int PyList_SetItem(PyObject *list, intptr_t index, PyObject *item);
extern PyObject *PyBytes_FromStringAndSize(const char *bytes, intptr_t size);
extern void Py_DecRef(PyObject *object);
extern PyObject *PyErr_NoMemory(void);

#define MRP_EXPORT __attribute__((visibility("default")))

MRP_EXPORT int mrp_format_version(void) { return MR_FORMAT_VERSION; }
MRP_EXPORT size_t mrp_sizeof_writer(void) { return sizeof(mr_writer); }
MRP_EXPORT size_t mrp_sizeof_reader(void) { return sizeof(mr_reader); }

MRP_EXPORT int mrp_validate(uint8_t *base, uint64_t size, char *why, size_t why_size) {
  return mr_validate_header(base, size, why, why_size);
}

MRP_EXPORT int mrp_attach(uint8_t *base, int is_writer, uint32_t pid) { return mr_attach(base, is_writer, pid); }

MRP_EXPORT void mrp_writer_init(mr_writer *w, uint8_t *base) { mr_writer_init(w, base); }
MRP_EXPORT void mrp_reader_init(mr_reader *r, uint8_t *base) { mr_reader_init(r, base); }

/* Appends `count` records packed back to back in `data` (lengths in `lengths`) while they fit,
 * publishes once, stores how many were appended in *written. MR_OK, MR_FULL, MR_TOO_BIG or
 * MR_PEER_CLOSED (the reader closed). */
MRP_EXPORT int mrp_write_packed(mr_writer *w, const uint8_t *data, const uint32_t *lengths, uint32_t count,
                                uint32_t *written) {
  *written = 0;
  if (mr_load32(w->base, MR_OFF_READER_STATE) == MR_READER_CLOSED) return MR_PEER_CLOSED;
  int status = MR_OK;
  uint64_t offset = 0;
  uint32_t i = 0;
  for (; i < count; i++) {
    status = mr_writer_append(w, MR_KIND_DATA, data + offset, lengths[i]);
    if (status != MR_OK) break;
    offset += lengths[i];
  }
  mr_writer_publish(w);
  *written = i;
  return status;
}

/* Appends the end-of-stream frame; MR_OK or MR_FULL. */
MRP_EXPORT int mrp_write_end(mr_writer *w) {
  if (mr_load32(w->base, MR_OFF_READER_STATE) == MR_READER_CLOSED) return MR_PEER_CLOSED;
  int status = mr_writer_append(w, MR_KIND_END, NULL, 0);
  mr_writer_publish(w);
  if (status == MR_OK) {
    mr_store32(w->base, MR_OFF_WRITER_STATE, MR_WRITER_ENDED);
    mr_wake_all(w->base);
  }
  return status;
}

MRP_EXPORT int mrp_wait_writable(mr_writer *w, int64_t timeout_ms, int64_t attach_timeout_ms) {
  mr_wait_options options = {timeout_ms, attach_timeout_ms, NULL};
  return mr_wait(w->base, 1, w->head, w->need, &options);
}

MRP_EXPORT int mrp_wait_readable(mr_reader *r, int64_t timeout_ms, int64_t attach_timeout_ms) {
  mr_reader_release(r);
  mr_wait_options options = {timeout_ms, attach_timeout_ms, NULL};
  return mr_wait(r->base, 0, r->tail, 0, &options);
}

/* Up to `max_records` records (and about `max_bytes` bytes) as a new list of bytes objects.
 * *status: MR_OK (list non-empty), MR_EMPTY, MR_END (end-of-stream consumed) or MR_CORRUPT.
 * Returns NULL only when Python is out of memory. */
enum { MRP_STACK_ITEMS = 512 };

/* Up to `max_records` records (and about `max_bytes` bytes) as a new list of bytes objects, in
 * one pass over the frames; the list is created once, at its final size. *status: MR_OK (list
 * non-empty), MR_EMPTY, MR_END (end-of-stream consumed) or MR_CORRUPT. Returns NULL only when
 * Python is out of memory; nothing is consumed then, the records stay in the ring. */
MRP_EXPORT PyObject *mrp_read_batch(mr_reader *r, uint32_t max_records, uint64_t max_bytes, int *status) {
  mr_reader_release(r); /* §7: views handed out by mrp_read_view end here */
  *status = MR_EMPTY;
  PyObject *stack_items[MRP_STACK_ITEMS];
  PyObject **items = stack_items;
  if (max_records > MRP_STACK_ITEMS) {
    if (max_records > (1u << 20)) max_records = 1u << 20;
    items = (PyObject **)malloc(sizeof(PyObject *) * max_records);
    if (!items) return PyErr_NoMemory(); /* nothing consumed */
  }
  uint64_t total = 0, start = r->tail;
  uint32_t count = 0;
  int failed = 0;
  while (count < max_records) {
    uint32_t kind;
    uint8_t *payload;
    uint64_t length, size;
    int peeked = mr_reader_peek(r, &kind, &payload, &length, &size);
    if (peeked == MR_EMPTY) break;
    if (peeked == MR_CORRUPT) {
      if (count == 0) *status = MR_CORRUPT;
      break;
    }
    if (kind == MR_KIND_END) {
      if (count == 0) {
        r->tail += size;
        *status = MR_END;
      }
      break;
    }
    if (count > 0 && total + length > max_bytes) break;
    PyObject *item = PyBytes_FromStringAndSize((const char *)payload, (intptr_t)length);
    if (!item) {
      failed = 1; /* MemoryError is set; ctypes raises it */
      break;
    }
    items[count++] = item;
    r->tail += size;
    total += length;
  }
  PyObject *list = failed ? NULL : PyList_New(count);
  if (!list) {
    for (uint32_t i = 0; i < count; i++) Py_DecRef(items[i]);
    r->tail = start;
  } else {
    for (uint32_t i = 0; i < count; i++) PyList_SetItem(list, i, items[i]); /* steals */
    if (count > 0) *status = MR_OK;
    mr_reader_release(r);
  }
  if (items != stack_items) free(items);
  return list;
}

/* The next record without copying (§7): releases the previous one, then sets *offset (from the
 * start of the mapping) and *length of the payload and consumes it locally without publishing.
 * Returns MR_OK, MR_EMPTY, MR_END or MR_CORRUPT. */
MRP_EXPORT int mrp_read_view(mr_reader *r, uint64_t *offset, uint64_t *length) {
  mr_reader_release(r);
  uint32_t kind;
  uint8_t *payload;
  uint64_t size;
  int status = mr_reader_peek(r, &kind, &payload, length, &size);
  if (status != MR_OK) return status;
  r->tail += size;
  if (kind == MR_KIND_END) return MR_END;
  *offset = (uint64_t)(payload - r->base);
  return MR_OK;
}

/* §6: closes this side; returns 1 when the caller must unlink the file. */
MRP_EXPORT int mrp_close(uint8_t *base, int is_writer, mr_reader *reader) {
  if (is_writer) {
    uint32_t expected = MR_WRITER_OPEN;
    __atomic_compare_exchange_n(mr_u32(base, MR_OFF_WRITER_STATE), &expected, MR_WRITER_ABORTED, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
  } else {
    if (reader) mr_reader_release(reader);
    mr_store32(base, MR_OFF_READER_STATE, MR_READER_CLOSED);
  }
  mr_wake_all(base);
  return mr_detach(base, is_writer);
}

MRP_EXPORT uint32_t mrp_peer_pid(uint8_t *base, int is_writer) {
  return mr_load32(base, is_writer ? MR_OFF_READER_PID : MR_OFF_WRITER_PID);
}

/* Creates a ring file (§1), as createRing() does on the Node side: exclusive, mode 0600. */
MRP_EXPORT int mrp_create(const char *path, uint64_t capacity, const char *codec, uint32_t pid) {
  if (capacity < MR_MIN_CAPACITY || (capacity & (capacity - 1)) != 0) return MR_BAD_HEADER;
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1000 - errno;
  int allocated = posix_fallocate(fd, 0, (off_t)(MR_HEADER_SIZE + capacity)); /* §1: no sparse file */
  if (allocated != 0) {
    int saved = allocated;
    close(fd);
    unlink(path);
    return -1000 - saved;
  }
  uint8_t header[MR_HEADER_SIZE];
  memset(header, 0, sizeof header);
  mr_init_header(header, capacity, codec, pid);
  ssize_t n = pwrite(fd, header, sizeof header, 0);
  close(fd);
  if (n != (ssize_t)sizeof header) {
    unlink(path);
    return MR_BAD_HEADER;
  }
  return MR_OK;
}
