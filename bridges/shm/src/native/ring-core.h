/*
 * The Millrace ring core: layout constants, framing, publication and waiting, exactly as
 * specified in bridges/shm/RING.md (section numbers in comments refer to it).
 *
 * Plain C99 with GCC/Clang __atomic builtins, header-only, so the same code is compiled into the
 * Node addon (ring-addon.cc), the Python ctypes library (ring-python.c) and the fuzz target
 * (fuzz/framing-fuzz.cc). Nothing here allocates or throws.
 */
#ifndef MILLRACE_RING_CORE_H
#define MILLRACE_RING_CORE_H

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* §2 header layout */
#define MR_MAGIC "MLRACERG"
#define MR_FORMAT_VERSION 1u
#define MR_HEADER_SIZE 4096u
#define MR_MIN_CAPACITY 4096u
#define MR_OFF_MAGIC 0
#define MR_OFF_VERSION 8
#define MR_OFF_HEADER_SIZE 12
#define MR_OFF_CAPACITY 16
#define MR_OFF_WRITER_STATE 24
#define MR_OFF_READER_STATE 28
#define MR_OFF_WRITER_PID 32
#define MR_OFF_READER_PID 36
#define MR_OFF_CREATOR_PID 40
#define MR_OFF_DETACHED 44
#define MR_OFF_CODEC 48
#define MR_CODEC_SIZE 16
#define MR_OFF_WRITE_POSITION 128
#define MR_OFF_DATA_SEQ 136
#define MR_OFF_READER_SLEEPING 140
#define MR_OFF_READ_POSITION 256
#define MR_OFF_SPACE_SEQ 264
#define MR_OFF_WRITER_SLEEPING 268

#define MR_WRITER_UNATTACHED 0u
#define MR_WRITER_OPEN 1u
#define MR_WRITER_ENDED 2u
#define MR_WRITER_ABORTED 3u
#define MR_READER_UNATTACHED 0u
#define MR_READER_OPEN 1u
#define MR_READER_CLOSED 2u
#define MR_DETACHED_WRITER 1u
#define MR_DETACHED_READER 2u

/* §3 framing */
#define MR_FRAME_HEADER 8u
#define MR_KIND_DATA 1u
#define MR_KIND_WRAP 2u
#define MR_KIND_END 3u

/* Results. Non-negative: progress or a non-error condition; negative: errors. */
#define MR_OK 0
#define MR_EMPTY 1
#define MR_FULL 2
#define MR_END 3
#define MR_TOO_BIG (-1)
#define MR_CORRUPT (-2)
#define MR_PEER_DIED (-3)
#define MR_PEER_CLOSED (-4)
#define MR_TIMEOUT (-5)
#define MR_CLOSED (-6)
#define MR_BAD_HEADER (-7)

/* §5 waiting */
#define MR_SPIN_ITERATIONS 1000       /* reader: about 15 us; data from an active writer comes soon */
#define MR_WRITER_SPIN_ITERATIONS 100 /* writer: it waits for a quarter of the ring, which takes longer */
#define MR_SLICE_MS 50

static inline uint32_t *mr_u32(uint8_t *base, size_t offset) { return (uint32_t *)(base + offset); }
static inline uint64_t *mr_u64(uint8_t *base, size_t offset) { return (uint64_t *)(base + offset); }
static inline uint64_t mr_align8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }
static inline uint64_t mr_capacity(uint8_t *base) { return *mr_u64(base, MR_OFF_CAPACITY); }
static inline uint64_t mr_max_payload(uint64_t capacity) { return capacity - MR_FRAME_HEADER; }
static inline uint8_t *mr_data(uint8_t *base) { return base + MR_HEADER_SIZE; }

static inline uint64_t mr_load_acquire64(uint8_t *base, size_t off) {
  return __atomic_load_n(mr_u64(base, off), __ATOMIC_ACQUIRE);
}
static inline void mr_store_release64(uint8_t *base, size_t off, uint64_t v) {
  __atomic_store_n(mr_u64(base, off), v, __ATOMIC_RELEASE);
}
static inline uint32_t mr_load32(uint8_t *base, size_t off) {
  return __atomic_load_n(mr_u32(base, off), __ATOMIC_SEQ_CST);
}
static inline void mr_store32(uint8_t *base, size_t off, uint32_t v) {
  __atomic_store_n(mr_u32(base, off), v, __ATOMIC_SEQ_CST);
}

static inline void mr_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline long mr_futex(uint32_t *word, int op, uint32_t value, const struct timespec *timeout) {
  return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

/* §5: after publishing, wake the other side if it sleeps on (seq, sleeping). */
static inline void mr_wake(uint8_t *base, size_t seq_off, size_t sleeping_off) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(mr_u32(base, sleeping_off), __ATOMIC_SEQ_CST) != 0) {
    __atomic_fetch_add(mr_u32(base, seq_off), 1u, __ATOMIC_SEQ_CST);
    mr_futex(mr_u32(base, seq_off), FUTEX_WAKE, 1, NULL);
  }
}

/* §5: a state change wakes both sides unconditionally. */
static inline void mr_wake_all(uint8_t *base) {
  __atomic_fetch_add(mr_u32(base, MR_OFF_DATA_SEQ), 1u, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(mr_u32(base, MR_OFF_SPACE_SEQ), 1u, __ATOMIC_SEQ_CST);
  mr_futex(mr_u32(base, MR_OFF_DATA_SEQ), FUTEX_WAKE, 0x7fffffff, NULL);
  mr_futex(mr_u32(base, MR_OFF_SPACE_SEQ), FUTEX_WAKE, 0x7fffffff, NULL);
}

/* §1/§2: initialise a zeroed mapping of HEADER_SIZE + capacity bytes. Magic goes last. */
static inline int mr_init_header(uint8_t *base, uint64_t capacity, const char *codec, uint32_t creator_pid) {
  if (capacity < MR_MIN_CAPACITY || (capacity & (capacity - 1)) != 0) return MR_BAD_HEADER;
  *mr_u32(base, MR_OFF_VERSION) = MR_FORMAT_VERSION;
  *mr_u32(base, MR_OFF_HEADER_SIZE) = MR_HEADER_SIZE;
  *mr_u64(base, MR_OFF_CAPACITY) = capacity;
  *mr_u32(base, MR_OFF_CREATOR_PID) = creator_pid;
  memset(base + MR_OFF_CODEC, 0, MR_CODEC_SIZE);
  size_t n = codec ? strlen(codec) : 0;
  if (n >= MR_CODEC_SIZE) n = MR_CODEC_SIZE - 1;
  if (n) memcpy(base + MR_OFF_CODEC, codec, n);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  memcpy(base + MR_OFF_MAGIC, MR_MAGIC, 8);
  return MR_OK;
}

/* §1: validate a mapping of `mapped_size` bytes; on failure writes the reason into `why`. */
static inline int mr_validate_header(uint8_t *base, uint64_t mapped_size, char *why, size_t why_size) {
  if (mapped_size < MR_HEADER_SIZE + MR_MIN_CAPACITY) {
    snprintf(why, why_size, "file is %llu bytes, smaller than the %u-byte header plus the %u-byte minimum data area",
             (unsigned long long)mapped_size, MR_HEADER_SIZE, MR_MIN_CAPACITY);
    return MR_BAD_HEADER;
  }
  if (memcmp(base + MR_OFF_MAGIC, MR_MAGIC, 8) != 0) {
    snprintf(why, why_size, "magic is not %s (not a Millrace ring, or not initialised yet)", MR_MAGIC);
    return MR_BAD_HEADER;
  }
  uint32_t version = *mr_u32(base, MR_OFF_VERSION);
  if (version != MR_FORMAT_VERSION) {
    snprintf(why, why_size, "format_version is %u, this build speaks %u", version, MR_FORMAT_VERSION);
    return MR_BAD_HEADER;
  }
  uint32_t header_size = *mr_u32(base, MR_OFF_HEADER_SIZE);
  if (header_size != MR_HEADER_SIZE) {
    snprintf(why, why_size, "header_size is %u, expected %u", header_size, MR_HEADER_SIZE);
    return MR_BAD_HEADER;
  }
  uint64_t capacity = mr_capacity(base);
  if (capacity < MR_MIN_CAPACITY || (capacity & (capacity - 1)) != 0 || capacity + MR_HEADER_SIZE != mapped_size) {
    snprintf(why, why_size, "capacity %llu is not a power of two >= %u matching the file size %llu",
             (unsigned long long)capacity, MR_MIN_CAPACITY, (unsigned long long)mapped_size);
    return MR_BAD_HEADER;
  }
  return MR_OK;
}

/* The writer's private state (§4): its own position and the last read_position it saw. */
typedef struct {
  uint8_t *base;
  uint64_t capacity;
  uint64_t head;        /* local write position, published by mr_writer_publish */
  uint64_t tail_cache;  /* last read_position loaded */
  uint64_t need;        /* bytes of free space the last MR_FULL needs */
} mr_writer;

typedef struct {
  uint8_t *base;
  uint64_t capacity;
  uint64_t tail;        /* local read position (consumed), published by mr_reader_release */
  uint64_t head_cache;  /* last write_position loaded */
} mr_reader;

static inline void mr_writer_init(mr_writer *w, uint8_t *base) {
  w->base = base;
  w->capacity = mr_capacity(base);
  w->head = mr_load_acquire64(base, MR_OFF_WRITE_POSITION);
  w->tail_cache = mr_load_acquire64(base, MR_OFF_READ_POSITION);
  w->need = 0;
}

static inline void mr_reader_init(mr_reader *r, uint8_t *base) {
  r->base = base;
  r->capacity = mr_capacity(base);
  r->tail = mr_load_acquire64(base, MR_OFF_READ_POSITION);
  r->head_cache = mr_load_acquire64(base, MR_OFF_WRITE_POSITION);
}

static inline uint64_t mr_writer_free(mr_writer *w) {
  uint64_t free_bytes = w->capacity - (w->head - w->tail_cache);
  return free_bytes;
}

/*
 * §3: append one frame without publishing. MR_OK, MR_FULL (w->need says how much free space to
 * wait for) or MR_TOO_BIG. May write a wrap frame before returning MR_FULL; that is fine, the
 * wrap is published with the next publish.
 */
static inline int mr_writer_append(mr_writer *w, uint32_t kind, const uint8_t *payload, uint64_t length) {
  if (length > mr_max_payload(w->capacity)) return MR_TOO_BIG;
  uint64_t size = mr_align8(MR_FRAME_HEADER + length);
  uint64_t offset = w->head & (w->capacity - 1);
  uint64_t contiguous = w->capacity - offset;
  if (size > contiguous) {
    if (mr_writer_free(w) < contiguous) {
      w->tail_cache = mr_load_acquire64(w->base, MR_OFF_READ_POSITION);
      if (mr_writer_free(w) < contiguous) {
        w->need = contiguous;
        return MR_FULL;
      }
    }
    uint8_t *frame = mr_data(w->base) + offset;
    ((uint32_t *)frame)[0] = 0;
    ((uint32_t *)frame)[1] = MR_KIND_WRAP;
    w->head += contiguous;
    offset = 0;
  }
  if (mr_writer_free(w) < size) {
    w->tail_cache = mr_load_acquire64(w->base, MR_OFF_READ_POSITION);
    if (mr_writer_free(w) < size) {
      w->need = size;
      return MR_FULL;
    }
  }
  uint8_t *frame = mr_data(w->base) + offset;
  ((uint32_t *)frame)[0] = (uint32_t)length;
  ((uint32_t *)frame)[1] = kind;
  if (length) memcpy(frame + MR_FRAME_HEADER, payload, (size_t)length);
  w->head += size;
  return MR_OK;
}

/* §4/§5: make appended frames visible and wake a sleeping reader. */
static inline void mr_writer_publish(mr_writer *w) {
  if (*mr_u64(w->base, MR_OFF_WRITE_POSITION) == w->head) return;
  mr_store_release64(w->base, MR_OFF_WRITE_POSITION, w->head);
  mr_wake(w->base, MR_OFF_DATA_SEQ, MR_OFF_READER_SLEEPING);
}

/*
 * §3: look at the next frame without consuming it. On MR_OK sets *kind, *payload, *length and
 * *size (bytes to advance). Wrap frames are skipped here. Returns MR_EMPTY or MR_CORRUPT.
 */
static inline int mr_reader_peek(mr_reader *r, uint32_t *kind, uint8_t **payload, uint64_t *length, uint64_t *size) {
  for (;;) {
    if (r->tail == r->head_cache) {
      r->head_cache = mr_load_acquire64(r->base, MR_OFF_WRITE_POSITION);
      if (r->tail == r->head_cache) return MR_EMPTY;
    }
    uint64_t available = r->head_cache - r->tail;
    uint64_t offset = r->tail & (r->capacity - 1);
    uint64_t contiguous = r->capacity - offset;
    if (available > r->capacity || (r->tail & 7u) != 0 || available < MR_FRAME_HEADER) return MR_CORRUPT;
    uint8_t *frame = mr_data(r->base) + offset;
    uint32_t frame_length = ((uint32_t *)frame)[0];
    uint32_t frame_kind = ((uint32_t *)frame)[1];
    if (frame_kind == MR_KIND_WRAP) {
      if (available < contiguous) return MR_CORRUPT;
      r->tail += contiguous;
      continue;
    }
    if (frame_kind != MR_KIND_DATA && frame_kind != MR_KIND_END) return MR_CORRUPT;
    if (frame_length > mr_max_payload(r->capacity)) return MR_CORRUPT;
    uint64_t frame_size = mr_align8(MR_FRAME_HEADER + (uint64_t)frame_length);
    if (frame_size > contiguous || frame_size > available) return MR_CORRUPT;
    *kind = frame_kind;
    *payload = frame + MR_FRAME_HEADER;
    *length = frame_length;
    *size = frame_size;
    return MR_OK;
  }
}

/* §4/§5: give consumed bytes back to the writer and wake it if it sleeps. */
static inline void mr_reader_release(mr_reader *r) {
  if (*mr_u64(r->base, MR_OFF_READ_POSITION) == r->tail) return;
  mr_store_release64(r->base, MR_OFF_READ_POSITION, r->tail);
  mr_wake(r->base, MR_OFF_SPACE_SEQ, MR_OFF_WRITER_SLEEPING);
}

/* §5 liveness: 1 when `pid` is gone or a zombie. */
static inline int mr_pid_dead(uint32_t pid) {
  if (pid == 0) return 0;
  if (kill((pid_t)pid, 0) == -1 && errno == ESRCH) return 1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 1 : 0;
  char buffer[512];
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  /* The state letter follows the last ')' (the command name may itself contain parentheses). */
  char *close_paren = strrchr(buffer, ')');
  if (!close_paren || close_paren[1] != ' ') return 0;
  char state = close_paren[2];
  return state == 'Z' || state == 'X';
}

static inline int64_t mr_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
  int64_t timeout_ms;        /* overall bound; < 0 for none (liveness still applies) */
  int64_t attach_timeout_ms; /* bound while the peer has not attached (pid 0) */
  const volatile int *cancel; /* set non-zero by a local close(); may be NULL */
} mr_wait_options;

/* §5 liveness checks shared by both waits. `is_writer` says which side is waiting. */
static inline int mr_peer_check(uint8_t *base, int is_writer, int64_t started, const mr_wait_options *o) {
  if (o->cancel && *o->cancel) return MR_CLOSED;
  int64_t elapsed = mr_now_ms() - started;
  if (is_writer) {
    uint32_t state = mr_load32(base, MR_OFF_READER_STATE);
    if (state == MR_READER_CLOSED) return MR_PEER_CLOSED;
    uint32_t pid = mr_load32(base, MR_OFF_READER_PID);
    if (state == MR_READER_UNATTACHED || pid == 0) {
      if (o->attach_timeout_ms >= 0 && elapsed >= o->attach_timeout_ms) return MR_TIMEOUT;
    } else if (mr_pid_dead(pid)) {
      return MR_PEER_DIED;
    }
  } else {
    uint32_t state = mr_load32(base, MR_OFF_WRITER_STATE);
    if (state == MR_WRITER_ABORTED) return MR_PEER_CLOSED;
    uint32_t pid = mr_load32(base, MR_OFF_WRITER_PID);
    if (state == MR_WRITER_UNATTACHED || pid == 0) {
      if (o->attach_timeout_ms >= 0 && elapsed >= o->attach_timeout_ms) return MR_TIMEOUT;
    } else if (state == MR_WRITER_ENDED) {
      /* The end frame was published before the state; an empty ring now means a broken writer. */
      return MR_PEER_CLOSED;
    } else if (mr_pid_dead(pid)) {
      return MR_PEER_DIED;
    }
  }
  if (o->timeout_ms >= 0 && elapsed >= o->timeout_ms) return MR_TIMEOUT;
  return MR_OK;
}

/*
 * §5: wait until the condition holds. For a reader: write_position != `position` (its local
 * tail). For a writer: capacity - (`position` - read_position) >= `need`.
 * Returns MR_OK or one of MR_PEER_DIED, MR_PEER_CLOSED, MR_TIMEOUT, MR_CLOSED.
 */
static inline int mr_wait(uint8_t *base, int is_writer, uint64_t position, uint64_t need, const mr_wait_options *o) {
  uint64_t capacity = mr_capacity(base);
  /* §5 hysteresis: a full writer waits for a quarter of the ring, not just for its next record,
   * so the two sides do not ping-pong one record at a time. The reader is draining a full ring, so
   * that space always comes. */
  if (is_writer && need < capacity / 4) need = capacity / 4;
  size_t watch_off = is_writer ? MR_OFF_READ_POSITION : MR_OFF_WRITE_POSITION;
  size_t seq_off = is_writer ? MR_OFF_SPACE_SEQ : MR_OFF_DATA_SEQ;
  size_t sleeping_off = is_writer ? MR_OFF_WRITER_SLEEPING : MR_OFF_READER_SLEEPING;
#define MR_READY(value) (is_writer ? (capacity - (position - (value)) >= need) : ((value) != position))
  int spins = is_writer ? MR_WRITER_SPIN_ITERATIONS : MR_SPIN_ITERATIONS;
  for (int i = 0; i < spins; i++) {
    uint64_t value = mr_load_acquire64(base, watch_off);
    if (MR_READY(value)) return MR_OK;
    mr_cpu_relax();
  }
  int64_t started = mr_now_ms();
  for (;;) {
    int status = mr_peer_check(base, is_writer, started, o);
    if (status != MR_OK) {
      /* The peer may have published everything we need just before dying or closing. */
      uint64_t value = mr_load_acquire64(base, watch_off);
      return MR_READY(value) ? MR_OK : status;
    }
    uint32_t seq = __atomic_load_n(mr_u32(base, seq_off), __ATOMIC_SEQ_CST);
    __atomic_store_n(mr_u32(base, sleeping_off), 1u, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint64_t value = __atomic_load_n(mr_u64(base, watch_off), __ATOMIC_SEQ_CST);
    if (MR_READY(value)) {
      __atomic_store_n(mr_u32(base, sleeping_off), 0u, __ATOMIC_SEQ_CST);
      return MR_OK;
    }
    struct timespec slice = {0, MR_SLICE_MS * 1000000L};
    mr_futex(mr_u32(base, seq_off), FUTEX_WAIT, seq, &slice);
    __atomic_store_n(mr_u32(base, sleeping_off), 0u, __ATOMIC_SEQ_CST);
    value = mr_load_acquire64(base, watch_off);
    if (MR_READY(value)) return MR_OK;
  }
#undef MR_READY
}

/* §6: mark this side detached; returns 1 when the caller must unlink the file. */
static inline int mr_detach(uint8_t *base, int is_writer) {
  uint32_t mine = is_writer ? MR_DETACHED_WRITER : MR_DETACHED_READER;
  uint32_t theirs = is_writer ? MR_DETACHED_READER : MR_DETACHED_WRITER;
  uint32_t before = __atomic_fetch_or(mr_u32(base, MR_OFF_DETACHED), mine, __ATOMIC_SEQ_CST);
  if (before & theirs) return 1;
  uint32_t peer_pid = mr_load32(base, is_writer ? MR_OFF_READER_PID : MR_OFF_WRITER_PID);
  return peer_pid != 0 && mr_pid_dead(peer_pid);
}

/* §2: attach as writer (1) or reader (0). MR_OK, or MR_BAD_HEADER when the end is taken. */
static inline int mr_attach(uint8_t *base, int is_writer, uint32_t pid) {
  size_t state_off = is_writer ? MR_OFF_WRITER_STATE : MR_OFF_READER_STATE;
  uint32_t expected = 0;
  if (!__atomic_compare_exchange_n(mr_u32(base, state_off), &expected, is_writer ? MR_WRITER_OPEN : MR_READER_OPEN, 0,
                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    return MR_BAD_HEADER;
  }
  mr_store32(base, is_writer ? MR_OFF_WRITER_PID : MR_OFF_READER_PID, pid);
  mr_wake_all(base);
  return MR_OK;
}

#ifdef __cplusplus
}
#endif

#endif /* MILLRACE_RING_CORE_H */
