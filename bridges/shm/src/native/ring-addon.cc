// Node binding for the Millrace ring (bridges/shm/RING.md). The addon maps the ring file itself
// (Node-API on Node 20 cannot see a SharedArrayBuffer) and exposes non-blocking batch calls on the
// JS thread plus promise-returning waits that run on one dedicated waiter thread per ring, so a
// full or empty ring never blocks the event loop nor occupies a libuv pool thread.
//
// C++ exceptions are compiled in (std::thread may throw) but never cross into JS: every entry point
// runs inside Guard(), which turns them into JS errors.
#include <napi.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "ring-core.h"

namespace {

const char *StatusCode(int status) {
  switch (status) {
    case MR_TOO_BIG: return "TOO_BIG";
    case MR_CORRUPT: return "CORRUPT";
    case MR_PEER_DIED: return "PEER_DIED";
    case MR_PEER_CLOSED: return "PEER_CLOSED";
    case MR_TIMEOUT: return "TIMEOUT";
    case MR_CLOSED: return "CLOSED";
    case MR_BAD_HEADER: return "BAD_HEADER";
    default: return "UNKNOWN";
  }
}

Napi::Error CodedError(Napi::Env env, const char *code, const std::string &message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

template <typename Body>
Napi::Value Guard(const Napi::CallbackInfo &info, Body body) {
  try {
    return body();
  } catch (const std::exception &exception) {
    CodedError(info.Env(), "NATIVE", std::string("millrace ring: ") + exception.what()).ThrowAsJavaScriptException();
  } catch (...) {
    CodedError(info.Env(), "NATIVE", "millrace ring: unknown native failure").ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

std::string ErrnoText(const std::string &what, const std::string &path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// createRingFile(path, capacityBytes, codec, creatorPid): §1 — exclusive create, mode 0600, header.
Napi::Value CreateRingFile(const Napi::CallbackInfo &info) {
  return Guard(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>().Utf8Value();
    uint64_t capacity = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    std::string codec = info[2].As<Napi::String>().Utf8Value();
    uint32_t pid = info[3].As<Napi::Number>().Uint32Value();
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      CodedError(env, "IO", ErrnoText("cannot create ring file", path)).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint64_t size = MR_HEADER_SIZE + capacity;
    // §1: allocate every page now. A sparse file on a full /dev/shm would fail later with SIGBUS
    // in the middle of a write; here it fails with a clear ENOSPC.
    int allocated = posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (allocated != 0) {
      errno = allocated;
      std::string message = ErrnoText("cannot allocate " + std::to_string(size) + " bytes for ring file", path);
      close(fd);
      unlink(path.c_str());
      CodedError(env, "IO", message).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    void *base = mmap(nullptr, MR_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
      std::string message = ErrnoText("cannot map ring file", path);
      unlink(path.c_str());
      CodedError(env, "IO", message).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int status = mr_init_header(static_cast<uint8_t *>(base), capacity, codec.c_str(), pid);
    munmap(base, MR_HEADER_SIZE);
    if (status != MR_OK) {
      unlink(path.c_str());
      CodedError(env, "BAD_HEADER", "capacity must be a power of two of at least 4096 bytes")
          .ThrowAsJavaScriptException();
    }
    return env.Undefined();
  });
}

class RingHandle;
void DeliverWaitResult(Napi::Env env, Napi::Function, RingHandle *ring, int *status);
using WaitDelivery = Napi::TypedThreadSafeFunction<RingHandle, int, DeliverWaitResult>;

class RingHandle : public Napi::ObjectWrap<RingHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RingHandle",
                       {
                           InstanceMethod<&RingHandle::Info>("info"),
                           InstanceMethod<&RingHandle::Stats>("stats"),
                           InstanceMethod<&RingHandle::TryWriteBatch>("tryWriteBatch"),
                           InstanceMethod<&RingHandle::TryWritePacked>("tryWritePacked"),
                           InstanceMethod<&RingHandle::TryWriteEnd>("tryWriteEnd"),
                           InstanceMethod<&RingHandle::WaitWritable>("waitWritable"),
                           InstanceMethod<&RingHandle::TryReadBatch>("tryReadBatch"),
                           InstanceMethod<&RingHandle::WaitReadable>("waitReadable"),
                           InstanceMethod<&RingHandle::Close>("close"),
                       });
  }

  // new RingHandle(path, role: 'writer' | 'reader', attachTimeoutMs)
  explicit RingHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<RingHandle>(info) {
    Napi::Env env = info.Env();
    try {
      path_ = info[0].As<Napi::String>().Utf8Value();
      is_writer_ = info[1].As<Napi::String>().Utf8Value() == "writer";
      attach_timeout_ms_ = info[2].As<Napi::Number>().Int64Value();
      int fd = open(path_.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        CodedError(env, errno == ENOENT ? "NOT_FOUND" : "IO", ErrnoText("cannot open ring file", path_))
            .ThrowAsJavaScriptException();
        return;
      }
      struct stat st;
      if (fstat(fd, &st) != 0) {
        std::string message = ErrnoText("cannot stat ring file", path_);
        close(fd);
        CodedError(env, "IO", message).ThrowAsJavaScriptException();
        return;
      }
      size_ = static_cast<uint64_t>(st.st_size);
      // MAP_POPULATE: fault the pages in now rather than one by one on the hot path.
      void *base = size_ >= MR_HEADER_SIZE
                       ? mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)
                       : MAP_FAILED;
      close(fd);
      if (base == MAP_FAILED) {
        CodedError(env, "BAD_HEADER", "cannot map ring file " + path_ + " (" + std::to_string(size_) + " bytes)")
            .ThrowAsJavaScriptException();
        return;
      }
      base_ = static_cast<uint8_t *>(base);
      char why[256];
      if (mr_validate_header(base_, size_, why, sizeof why) != MR_OK) {
        Unmap();
        CodedError(env, "BAD_HEADER", "not a valid Millrace ring (" + path_ + "): " + why).ThrowAsJavaScriptException();
        return;
      }
      if (mr_attach(base_, is_writer_, static_cast<uint32_t>(getpid())) != MR_OK) {
        Unmap();
        CodedError(env, "ALREADY_ATTACHED",
                   std::string("the ") + (is_writer_ ? "writer" : "reader") + " end of " + path_ +
                       " is already taken (a ring has exactly one writer and one reader)")
            .ThrowAsJavaScriptException();
        return;
      }
      if (is_writer_) {
        mr_writer_init(&writer_, base_);
      } else {
        mr_reader_init(&reader_, base_);
      }
      // The finalizer tells us when Node tears the delivery function down (environment exit):
      // after that it must not be released again.
      delivery_ = WaitDelivery::New(env, "millrace-ring-wait", 0, 1, this, DeliveryFinalized, this);
      delivery_.Unref(env);
      waiter_ = std::thread([this]() { WaiterLoop(); });
    } catch (const std::exception &exception) {
      CodedError(env, "NATIVE", std::string("millrace ring: ") + exception.what()).ThrowAsJavaScriptException();
    }
  }

  ~RingHandle() override { Shutdown(false); }

  static void DeliveryFinalized(Napi::Env, RingHandle *, RingHandle *ring) { ring->delivery_alive_ = false; }

  void Deliver(Napi::Env env, int status) {
    // close() already rejected the wait and released the delivery function.
    if (closed_ || !deferred_) return;
    waiting_ = false;
    delivery_.Unref(env);
    Napi::Promise::Deferred deferred = std::move(*deferred_);
    deferred_.reset();
    if (status == MR_OK) {
      deferred.Resolve(env.Undefined());
      return;
    }
    if (status == MR_PEER_DIED) unlink(path_.c_str());  // §6: the peer will never detach.
    deferred.Reject(CodedError(env, StatusCode(status), WaitMessage(status)).Value());
  }

 private:
  std::string WaitMessage(int status) const {
    const char *peer = is_writer_ ? "reader" : "writer";
    uint32_t pid = base_ ? mr_load32(base_, is_writer_ ? MR_OFF_READER_PID : MR_OFF_WRITER_PID) : 0;
    switch (status) {
      case MR_PEER_DIED:
        return std::string("the ") + peer + " process (pid " + std::to_string(pid) + ") of ring " + path_ +
               " died; the ring file was removed";
      case MR_PEER_CLOSED:
        return is_writer_ ? "the reader closed ring " + path_ + "; no more records can be written"
                          : "the writer closed ring " + path_ + " without ending the stream";
      case MR_TIMEOUT:
        return std::string("timed out waiting on ring ") + path_ +
               (pid == 0 ? std::string(": no ") + peer + " attached" : "");
      case MR_CLOSED: return "ring " + path_ + " was closed while waiting";
      default: return "ring " + path_ + ": status " + std::to_string(status);
    }
  }

  void Unmap() {
    if (base_) munmap(base_, size_);
    base_ = nullptr;
  }

  bool CheckOpen(Napi::Env env) {
    if (base_ && !closed_) return true;
    CodedError(env, "CLOSED", "ring " + path_ + " is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Info(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!CheckOpen(env)) return env.Undefined();
      Napi::Object result = Napi::Object::New(env);
      uint64_t capacity = mr_capacity(base_);
      char codec[MR_CODEC_SIZE + 1] = {0};
      std::memcpy(codec, base_ + MR_OFF_CODEC, MR_CODEC_SIZE);
      result.Set("capacity", Napi::Number::New(env, static_cast<double>(capacity)));
      result.Set("maxPayload", Napi::Number::New(env, static_cast<double>(mr_max_payload(capacity))));
      result.Set("codec", Napi::String::New(env, codec));
      result.Set("creatorPid", Napi::Number::New(env, mr_load32(base_, MR_OFF_CREATOR_PID)));
      return result;
    });
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!CheckOpen(env)) return env.Undefined();
      Napi::Object result = Napi::Object::New(env);
      result.Set("writePosition",
                 Napi::Number::New(env, static_cast<double>(mr_load_acquire64(base_, MR_OFF_WRITE_POSITION))));
      result.Set("readPosition",
                 Napi::Number::New(env, static_cast<double>(mr_load_acquire64(base_, MR_OFF_READ_POSITION))));
      result.Set("writerState", Napi::Number::New(env, mr_load32(base_, MR_OFF_WRITER_STATE)));
      result.Set("readerState", Napi::Number::New(env, mr_load32(base_, MR_OFF_READER_STATE)));
      result.Set("writerPid", Napi::Number::New(env, mr_load32(base_, MR_OFF_WRITER_PID)));
      result.Set("readerPid", Napi::Number::New(env, mr_load32(base_, MR_OFF_READER_PID)));
      return result;
    });
  }

  bool WriterUsable(Napi::Env env) {
    if (!CheckOpen(env)) return false;
    if (!is_writer_) {
      CodedError(env, "WRONG_SIDE", "ring " + path_ + " was opened as a reader").ThrowAsJavaScriptException();
      return false;
    }
    if (mr_load32(base_, MR_OFF_READER_STATE) == MR_READER_CLOSED) {
      CodedError(env, "PEER_CLOSED", WaitMessage(MR_PEER_CLOSED)).ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // tryWriteBatch(records: Uint8Array[], start): appends records[start..] while they fit, publishes
  // once, returns how many were appended. The caller waits (waitWritable) and calls again.
  Napi::Value TryWriteBatch(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!WriterUsable(env)) return env.Undefined();
      // Raw Node-API in this loop: it runs once per record, and the C++ wrappers would create an
      // ArrayBuffer handle per element just to find the data pointer.
      napi_value records = info[0];
      uint32_t start = info[1].As<Napi::Number>().Uint32Value();
      uint32_t count = 0;
      if (napi_get_array_length(env, records, &count) != napi_ok) {
        Napi::TypeError::New(env, "records must be an array").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      uint32_t index = start;
      for (; index < count; index++) {
        napi_value value;
        napi_typedarray_type type;
        size_t length = 0;
        void *data = nullptr;
        if (napi_get_element(env, records, index, &value) != napi_ok ||
            napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok ||
            (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array)) {
          mr_writer_publish(&writer_);
          Napi::TypeError::New(env, "records[" + std::to_string(index) + "] is not a Uint8Array")
              .ThrowAsJavaScriptException();
          return env.Undefined();
        }
        int status = mr_writer_append(&writer_, MR_KIND_DATA, static_cast<const uint8_t *>(data), length);
        if (status == MR_FULL) break;
        if (status == MR_TOO_BIG) {
          mr_writer_publish(&writer_);
          CodedError(env, "TOO_BIG",
                     "record of " + std::to_string(length) + " bytes exceeds the ring's maximum of " +
                         std::to_string(mr_max_payload(writer_.capacity)) + " bytes")
              .ThrowAsJavaScriptException();
          return env.Undefined();
        }
      }
      mr_writer_publish(&writer_);
      return Napi::Number::New(env, index - start);
    });
  }

  // tryWritePacked(data: Uint8Array, offsets: Uint32Array, start): records packed in `data`, record
  // i being data[offsets[i] .. offsets[i + 1]); appends records start.. while they fit, publishes
  // once, returns how many were appended. No per-record Node-API call at all.
  Napi::Value TryWritePacked(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!WriterUsable(env)) return env.Undefined();
      if (!info[0].IsTypedArray() || !info[1].IsTypedArray()) {
        Napi::TypeError::New(env, "writePacked needs a Uint8Array and a Uint32Array").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
      Napi::Uint32Array offsets = info[1].As<Napi::Uint32Array>();
      uint32_t start = info[2].As<Napi::Number>().Uint32Value();
      const uint8_t *bytes = data.Data();
      size_t size = data.ByteLength();
      size_t count = offsets.ElementLength() == 0 ? 0 : offsets.ElementLength() - 1;
      const uint32_t *bounds = offsets.Data();
      size_t index = start;
      for (; index < count; index++) {
        uint32_t from = bounds[index];
        uint32_t to = bounds[index + 1];
        if (to < from || to > size) {
          mr_writer_publish(&writer_);
          Napi::RangeError::New(env, "offsets[" + std::to_string(index + 1) + "] = " + std::to_string(to) +
                                         " is not between offsets[" + std::to_string(index) + "] (" +
                                         std::to_string(from) + ") and the data length (" +
                                         std::to_string(size) + ")")
              .ThrowAsJavaScriptException();
          return env.Undefined();
        }
        int status = mr_writer_append(&writer_, MR_KIND_DATA, bytes + from, to - from);
        if (status == MR_FULL) break;
        if (status == MR_TOO_BIG) {
          mr_writer_publish(&writer_);
          CodedError(env, "TOO_BIG",
                     "record of " + std::to_string(to - from) + " bytes exceeds the ring's maximum of " +
                         std::to_string(mr_max_payload(writer_.capacity)) + " bytes")
              .ThrowAsJavaScriptException();
          return env.Undefined();
        }
      }
      mr_writer_publish(&writer_);
      return Napi::Number::New(env, static_cast<double>(index - start));
    });
  }

  // tryWriteEnd(): appends the end-of-stream frame (§3); false when the ring is full.
  Napi::Value TryWriteEnd(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!WriterUsable(env)) return env.Undefined();
      if (mr_writer_append(&writer_, MR_KIND_END, nullptr, 0) == MR_FULL) {
        mr_writer_publish(&writer_);
        return Napi::Boolean::New(env, false);
      }
      mr_writer_publish(&writer_);
      mr_store32(base_, MR_OFF_WRITER_STATE, MR_WRITER_ENDED);
      mr_wake_all(base_);
      return Napi::Boolean::New(env, true);
    });
  }

  // tryReadBatch(maxRecords, maxBytes): undefined when empty, null at end-of-stream, otherwise
  // [ArrayBuffer with the payloads at 8-aligned offsets, Uint32Array of n (start, end) pairs].
  Napi::Value TryReadBatch(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!CheckOpen(env)) return env.Undefined();
      if (is_writer_) {
        CodedError(env, "WRONG_SIDE", "ring " + path_ + " was opened as a writer").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      uint32_t max_records = info[0].As<Napi::Number>().Uint32Value();
      uint64_t max_bytes = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
      // First pass: count what this batch takes, without consuming. Each payload starts at a
      // multiple of 8 in the output buffer so tensor data can be viewed in place.
      mr_reader scan = reader_;
      uint32_t count = 0;
      uint64_t total = 0;
      bool at_end = false;
      while (count < max_records) {
        uint32_t kind;
        uint8_t *payload;
        uint64_t length, size;
        int status = mr_reader_peek(&scan, &kind, &payload, &length, &size);
        if (status == MR_EMPTY) break;
        if (status == MR_CORRUPT) {
          CodedError(env, "CORRUPT",
                     "ring " + path_ + " holds a corrupt frame at position " + std::to_string(scan.tail) +
                         " (see RING.md §3)")
              .ThrowAsJavaScriptException();
          return env.Undefined();
        }
        if (kind == MR_KIND_END) {
          at_end = true;
          break;
        }
        if (count > 0 && total + length > max_bytes) break;
        total += mr_align8(length);
        count++;
        scan.tail += size;
      }
      if (count == 0) {
        if (at_end) {
          reader_ = scan;
          reader_.tail += MR_FRAME_HEADER;
          mr_reader_release(&reader_);
          return env.Null();
        }
        reader_.head_cache = scan.head_cache;
        reader_.tail = scan.tail;  // wrap frames skipped while scanning
        mr_reader_release(&reader_);
        return env.Undefined();
      }
      Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, total);
      Napi::Uint32Array bounds = Napi::Uint32Array::New(env, 2 * static_cast<size_t>(count));
      uint8_t *out = static_cast<uint8_t *>(buffer.Data());
      uint64_t written = 0;
      for (uint32_t i = 0; i < count; i++) {
        uint32_t kind = 0;
        uint8_t *payload = nullptr;
        uint64_t length = 0, size = 0;
        mr_reader_peek(&reader_, &kind, &payload, &length, &size);
        bounds[2 * i] = static_cast<uint32_t>(written);
        bounds[2 * i + 1] = static_cast<uint32_t>(written + length);
        std::memcpy(out + written, payload, length);
        written += mr_align8(length);
        reader_.tail += size;
      }
      mr_reader_release(&reader_);
      Napi::Array result = Napi::Array::New(env, 2);
      result.Set(0u, buffer);
      result.Set(1u, bounds);
      return result;
    });
  }

  Napi::Value StartWait(const Napi::CallbackInfo &info, bool for_writer) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!CheckOpen(env)) return env.Undefined();
      if (for_writer != is_writer_) {
        CodedError(env, "WRONG_SIDE", "wrong wait for this side of ring " + path_).ThrowAsJavaScriptException();
        return env.Undefined();
      }
      if (waiting_) {
        CodedError(env, "BUSY", "ring " + path_ + " already has a wait in progress (one operation at a time)")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
      int64_t timeout_ms = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
      deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
      Napi::Promise promise = deferred_->Promise();
      waiting_ = true;
      delivery_.Ref(env);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        request_position_ = is_writer_ ? writer_.head : reader_.tail;
        request_need_ = is_writer_ ? writer_.need : 0;
        request_timeout_ms_ = timeout_ms;
        has_request_ = true;
      }
      condition_.notify_one();
      return promise;
    });
  }

  Napi::Value WaitWritable(const Napi::CallbackInfo &info) { return StartWait(info, true); }
  Napi::Value WaitReadable(const Napi::CallbackInfo &info) { return StartWait(info, false); }

  void WaiterLoop() {
    for (;;) {
      uint64_t position, need;
      int64_t timeout_ms;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        condition_.wait(lock, [this]() { return has_request_ || stopping_; });
        if (stopping_) return;
        position = request_position_;
        need = request_need_;
        timeout_ms = request_timeout_ms_;
        has_request_ = false;
      }
      mr_wait_options options = {timeout_ms, attach_timeout_ms_, &cancel_};
      int status = mr_wait(base_, is_writer_, position, need, &options);
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;  // shutting down: nobody is waiting for this result any more
      delivery_.NonBlockingCall(new int(status));
    }
  }

  // Stops the waiter thread; a pending wait ends with MR_CLOSED (delivered if `deliver`).
  void Shutdown(bool from_close) {
    if (!base_) return;
    if (waiter_.joinable()) {
      cancel_ = 1;
      mr_wake_all(base_);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
      }
      condition_.notify_one();
      waiter_.join();
      if (delivery_alive_) delivery_.Release();
    }
    if (!closed_) {
      closed_ = true;
      if (is_writer_) {
        uint32_t expected = MR_WRITER_OPEN;
        __atomic_compare_exchange_n(mr_u32(base_, MR_OFF_WRITER_STATE), &expected, MR_WRITER_ABORTED, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      } else {
        mr_reader_release(&reader_);
        mr_store32(base_, MR_OFF_READER_STATE, MR_READER_CLOSED);
      }
      mr_wake_all(base_);
      if (mr_detach(base_, is_writer_)) unlink(path_.c_str());
    }
    (void)from_close;
    Unmap();
  }

  // close(): idempotent. Rejects a pending wait with CLOSED, detaches (§6), unmaps.
  Napi::Value Close(const Napi::CallbackInfo &info) {
    return Guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      bool had_wait = waiting_;
      Shutdown(true);
      if (had_wait && deferred_) {
        waiting_ = false;
        Napi::Promise::Deferred deferred = std::move(*deferred_);
        deferred_.reset();
        deferred.Reject(CodedError(env, "CLOSED", "ring " + path_ + " was closed while waiting").Value());
      }
      return env.Undefined();
    });
  }

  std::string path_;
  bool is_writer_ = false;
  int64_t attach_timeout_ms_ = -1;
  uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  bool closed_ = false;
  mr_writer writer_{};
  mr_reader reader_{};

  WaitDelivery delivery_;
  bool delivery_alive_ = true;
  std::unique_ptr<Napi::Promise::Deferred> deferred_;
  bool waiting_ = false;
  std::thread waiter_;
  std::mutex mutex_;
  std::condition_variable condition_;
  bool has_request_ = false;
  bool stopping_ = false;
  uint64_t request_position_ = 0;
  uint64_t request_need_ = 0;
  int64_t request_timeout_ms_ = -1;
  volatile int cancel_ = 0;
};

void DeliverWaitResult(Napi::Env env, Napi::Function, RingHandle *ring, int *status) {
  int value = *status;
  delete status;
  // env is null while the environment tears down; there is nobody left to tell.
  if (env == nullptr || ring == nullptr) return;
  try {
    ring->Deliver(env, value);
  } catch (...) {
    // Only std::bad_alloc can get here; exceptions must not unwind into Node.
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("createRingFile", Napi::Function::New(env, CreateRingFile));
  exports.Set("RingHandle", RingHandle::Define(env));
  exports.Set("formatVersion", Napi::Number::New(env, MR_FORMAT_VERSION));
  exports.Set("headerSize", Napi::Number::New(env, MR_HEADER_SIZE));
  return exports;
}

}  // namespace

NODE_API_MODULE(millrace_ring, Init)
