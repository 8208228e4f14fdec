#include "common/inbox.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>

namespace tenex {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(Inbox, KeepsTheOrderOfPushesAcrossBatches) {
    Inbox<int> inbox("test");
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(inbox.push(i));
    auto first = inbox.pop_all(std::nullopt, 4);
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(inbox.size(), 6u);
    auto rest = inbox.pop_all();
    ASSERT_TRUE(rest);
    EXPECT_EQ(*rest, (std::vector<int>{4, 5, 6, 7, 8, 9}));
}

TEST(Inbox, KeepsTheOrderOfEachProducer) {
    Inbox<std::pair<int, int>> inbox("test");
    constexpr int kPerProducer = 2000;
    std::vector<std::thread> producers;
    for (int p = 0; p < 3; ++p)
        producers.emplace_back([&, p] {
            for (int i = 0; i < kPerProducer; ++i) inbox.push({p, i});
        });
    std::vector<int> next(3, 0);
    int seen = 0;
    while (seen < 3 * kPerProducer) {
        auto batch = inbox.pop_all(Clock::now() + 5s);
        ASSERT_TRUE(batch);
        ASSERT_FALSE(batch->empty()) << "no message within 5 s";
        for (auto [p, i] : *batch) {
            ASSERT_EQ(i, next[p]) << "producer " << p;
            ++next[p];
            ++seen;
        }
    }
    for (auto& t : producers) t.join();
}

TEST(Inbox, CloseWakesABlockedConsumerAndRefusesLaterPushes) {
    Inbox<int> inbox("test");
    auto consumer = std::async(std::launch::async, [&] { return inbox.pop_all(); });  // no deadline
    EXPECT_EQ(consumer.wait_for(100ms), std::future_status::timeout);
    inbox.close();
    ASSERT_EQ(consumer.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(consumer.get().has_value());
    EXPECT_FALSE(inbox.push(1));
    EXPECT_EQ(inbox.try_push(1), Inbox<int>::Offer::closed);
    EXPECT_EQ(inbox.size(), 0u);
}

TEST(Inbox, AfterCloseWhatWasQueuedCanStillBeTaken) {
    Inbox<int> inbox("test");
    inbox.push(1);
    inbox.push(2);
    inbox.close();
    auto left = inbox.pop_all();  // returns at once, no deadline needed
    ASSERT_TRUE(left);
    EXPECT_EQ(*left, (std::vector<int>{1, 2}));
    EXPECT_FALSE(inbox.pop_all().has_value());
}

TEST(Inbox, ADeadlineEndsTheWaitWithNothing) {
    Inbox<int> inbox("test");
    const auto start = Clock::now();
    auto batch = inbox.pop_all(start + 150ms);
    const auto waited = Clock::now() - start;
    ASSERT_TRUE(batch);
    EXPECT_TRUE(batch->empty());
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 3s);
    // A deadline in the past with a message waiting: the message, at once.
    inbox.push(7);
    auto now = inbox.pop_all(start);
    ASSERT_TRUE(now);
    EXPECT_EQ(*now, std::vector<int>{7});
}

TEST(Inbox, WakeEndsAWaitWithoutADeadline) {
    Inbox<int> inbox("test");
    auto consumer = std::async(std::launch::async, [&] { return inbox.pop_all(); });
    EXPECT_EQ(consumer.wait_for(100ms), std::future_status::timeout);
    inbox.wake();
    ASSERT_EQ(consumer.wait_for(5s), std::future_status::ready);
    auto batch = consumer.get();
    ASSERT_TRUE(batch);
    EXPECT_TRUE(batch->empty());
    // The wake is used up: the next wait waits again.
    auto again = inbox.pop_all(Clock::now() + 50ms);
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->empty());
}

TEST(Inbox, TryPushShedsOverCapacityButPushDoesNot) {
    Inbox<int> inbox("test", 2);
    EXPECT_EQ(inbox.try_push(1), Inbox<int>::Offer::queued);
    EXPECT_EQ(inbox.try_push(2), Inbox<int>::Offer::queued);
    EXPECT_EQ(inbox.try_push(3), Inbox<int>::Offer::full);
    EXPECT_TRUE(inbox.push(4));  // a reply is never shed
    auto batch = inbox.pop_all();
    ASSERT_TRUE(batch);
    EXPECT_EQ(*batch, (std::vector<int>{1, 2, 4}));
    EXPECT_EQ(inbox.try_push(5), Inbox<int>::Offer::queued);
}

struct Add {
    int n;
};
struct Fail {
    std::string why;
};
using Message = std::variant<Add, Fail>;

TEST(Inbox, AHandlerThatThrowsIsCountedAndTheNextMessagesStillRun) {
    Inbox<Message> inbox("test inbox");
    inbox.push(Add{1});
    inbox.push(Fail{"bad input"});
    inbox.push(Add{2});
    inbox.push(Fail{"other"});
    inbox.push(Add{4});
    int sum = 0;
    auto batch = inbox.pop_all();
    ASSERT_TRUE(batch);
    int ok = 0;
    for (auto& m : *batch)
        ok += inbox.deliver("message",
                            [&] {
                                std::visit(
                                    [&](auto& msg) {
                                        using M = std::decay_t<decltype(msg)>;
                                        if constexpr (std::is_same_v<M, Add>)
                                            sum += msg.n;
                                        else
                                            throw std::runtime_error(msg.why);
                                    },
                                    m);
                            })
                  ? 1
                  : 0;
    EXPECT_EQ(sum, 7);
    EXPECT_EQ(ok, 3);
    EXPECT_EQ(inbox.failures(), 2u);
    EXPECT_FALSE(inbox.deliver("tick", [] { throw 42; }));  // not a std::exception
    EXPECT_EQ(inbox.failures(), 3u);
}

TEST(Inbox, MovesMessagesThatCannotBeCopied) {
    Inbox<std::unique_ptr<int>> inbox("test");
    inbox.push(std::make_unique<int>(5));
    auto batch = inbox.pop_all();
    ASSERT_TRUE(batch);
    ASSERT_EQ(batch->size(), 1u);
    EXPECT_EQ(*batch->front(), 5);
}

}  // namespace
}  // namespace tenex
