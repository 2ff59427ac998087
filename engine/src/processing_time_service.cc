// Boost 1.74's Asio uses std::exchange etc. without including <utility>
// under C++20.
#include <utility>

#include "processing_time_service.h"

#include <chrono>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/system_timer.hpp>

namespace brook::internal {

namespace asio = boost::asio;

struct ProcessingTimeService::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  // Started by the first ScheduleAt: a job without processing-time timers
  // (most bounded ones) runs no thread for them.
  std::once_flag started;
  std::thread thread;
  bool stopped = false;
};

ProcessingTimeService::ProcessingTimeService() : impl_(std::make_unique<Impl>()) {}

ProcessingTimeService::~ProcessingTimeService() { Stop(); }

int64_t ProcessingTimeService::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void ProcessingTimeService::ScheduleAt(int64_t timestamp_ms, std::function<void()> callback) {
  std::call_once(impl_->started, [impl = impl_.get()] {
    impl->thread = std::thread([impl] { impl->io.run(); });
  });
  asio::post(impl_->io, [io = &impl_->io, timestamp_ms, cb = std::move(callback)]() mutable {
    auto timer = std::make_shared<asio::system_timer>(
        *io, std::chrono::system_clock::time_point(std::chrono::milliseconds(timestamp_ms)));
    timer->async_wait([timer, cb = std::move(cb)](const boost::system::error_code& ec) {
      if (!ec) cb();
    });
  });
}

void ProcessingTimeService::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->work.reset();
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace brook::internal
