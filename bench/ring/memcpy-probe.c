/* The physical ceiling for the ring benchmark: one core copying `frame` bytes at a time into a
 * destination the size of the ring, at rotating offsets, as the ring writer does. Prints GB/s. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
  size_t frame = argc > 1 ? strtoull(argv[1], 0, 10) : (1u << 20);
  size_t count = argc > 2 ? strtoull(argv[2], 0, 10) : 4096;
  size_t ring = argc > 3 ? strtoull(argv[3], 0, 10) : (16u << 20);
  uint8_t *source = aligned_alloc(4096, frame);
  uint8_t *destination = aligned_alloc(4096, ring);
  memset(source, 1, frame);
  memset(destination, 0, ring);
  size_t slots = ring / frame;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (size_t i = 0; i < count; i++) {
    source[i % frame] = (uint8_t)i; /* keep the copy from being hoisted */
    memcpy(destination + (i % slots) * frame, source, frame);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
  unsigned checksum = 0;
  for (size_t i = 0; i < ring; i += 4096) checksum += destination[i];
  printf("{\"bytes\": %zu, \"seconds\": %.6f, \"gbPerSecond\": %.3f, \"checksum\": %u}\n", frame * count, seconds,
         (double)frame * count / seconds / 1e9, checksum);
  return 0;
}
