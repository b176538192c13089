// libFuzzer target for the ring's framing code (src/native/ring-core.h, RING.md §3).
//
// Input byte 0 picks a mode:
//  - even: the rest is hostile ring memory (positions + data area). The reader must classify every
//    frame as data, end, empty or corrupt without touching a byte outside the data area; ASan
//    checks that (the data area is an exact-size heap block).
//  - odd: the rest is a script of writes (sizes) and reads (counts) run single-threaded against a
//    queue model; every record read must equal the one written at that place, or we abort.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "../src/native/ring-core.h"

namespace {

constexpr uint64_t kCapacity = 4096;

struct Mapping {
  uint8_t *base;
  Mapping() {
    base = static_cast<uint8_t *>(std::aligned_alloc(64, MR_HEADER_SIZE + kCapacity));
    std::memset(base, 0, MR_HEADER_SIZE + kCapacity);
    mr_init_header(base, kCapacity, "fuzz", 1);
  }
  ~Mapping() { std::free(base); }
};

uint64_t TakeU64(const uint8_t *&data, size_t &size) {
  uint64_t value = 0;
  size_t n = size < 8 ? size : 8;
  std::memcpy(&value, data, n);
  data += n;
  size -= n;
  return value;
}

void HostileMemory(const uint8_t *data, size_t size) {
  Mapping mapping;
  uint8_t *base = mapping.base;
  uint64_t tail = TakeU64(data, size);
  uint64_t head = TakeU64(data, size);
  // Keep the distance plausible half of the time so parsing goes deep, arbitrary otherwise.
  if (tail & 1) head = tail + (head % (kCapacity + 1));
  std::memcpy(mr_data(base), data, size < kCapacity ? size : kCapacity);
  *mr_u64(base, MR_OFF_READ_POSITION) = tail;
  *mr_u64(base, MR_OFF_WRITE_POSITION) = head;
  mr_reader reader;
  mr_reader_init(&reader, base);
  for (int steps = 0; steps < 10000; steps++) {
    uint32_t kind;
    uint8_t *payload;
    uint64_t length, frame_size;
    int status = mr_reader_peek(&reader, &kind, &payload, &length, &frame_size);
    if (status != MR_OK) {
      if (status != MR_EMPTY && status != MR_CORRUPT) std::abort();
      return;
    }
    if (payload < mr_data(base) || payload + length > mr_data(base) + kCapacity) std::abort();
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < length; i++) sink ^= payload[i];  // ASan checks these reads
    (void)sink;
    reader.tail += frame_size;
    if (kind == MR_KIND_END) return;
  }
}

std::vector<uint8_t> RecordContent(uint32_t sequence, uint32_t length) {
  std::vector<uint8_t> bytes(length);
  for (uint32_t i = 0; i < length; i++) bytes[i] = static_cast<uint8_t>(sequence * 131 + i * 7);
  return bytes;
}

void ScriptedTraffic(const uint8_t *data, size_t size) {
  Mapping mapping;
  mr_writer writer;
  mr_reader reader;
  mr_writer_init(&writer, mapping.base);
  mr_reader_init(&reader, mapping.base);
  std::deque<std::vector<uint8_t>> in_flight;
  uint32_t sequence = 0;
  for (size_t i = 0; i + 2 < size; i += 3) {
    uint32_t operand = data[i + 1] | (data[i + 2] << 8);
    if (data[i] & 1) {
      // A write of operand % (capacity + 16) bytes: too big ones must be refused untouched.
      uint32_t length = operand % (kCapacity + 16);
      std::vector<uint8_t> record = RecordContent(sequence, length);
      uint64_t head_before = writer.head;
      int status = mr_writer_append(&writer, MR_KIND_DATA, record.data(), length);
      if (length > mr_max_payload(kCapacity)) {
        if (status != MR_TOO_BIG || writer.head != head_before) std::abort();
        continue;
      }
      if (status == MR_OK) {
        in_flight.push_back(std::move(record));
        sequence++;
      } else if (status != MR_FULL) {
        std::abort();
      }
      mr_writer_publish(&writer);
    } else {
      for (uint32_t n = operand % 8; n > 0; n--) {
        uint32_t kind;
        uint8_t *payload;
        uint64_t length, frame_size;
        int status = mr_reader_peek(&reader, &kind, &payload, &length, &frame_size);
        if (status == MR_EMPTY) {
          if (!in_flight.empty()) std::abort();  // published records must be visible
          break;
        }
        if (status != MR_OK || kind != MR_KIND_DATA || in_flight.empty()) std::abort();
        const std::vector<uint8_t> &expected = in_flight.front();
        if (length != expected.size() || (length && std::memcmp(payload, expected.data(), length) != 0)) std::abort();
        in_flight.pop_front();
        reader.tail += frame_size;
        mr_reader_release(&reader);
      }
    }
    uint64_t used = writer.head - *mr_u64(mapping.base, MR_OFF_READ_POSITION);
    if (used > kCapacity) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 1) {
    ScriptedTraffic(data + 1, size - 1);
  } else {
    HostileMemory(data + 1, size - 1);
  }
  return 0;
}
