"""The soak's page count (local/pagecount.py) against moto's SNS and SQS, as the local stack wires them."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest

from local.pagecount import PageCounter
from tests.integration.names import REGION

REPAGES = 1500  # re-pages of an unacknowledged desk: the 30,000 run's queue held 2,236 by its end


@pytest.fixture
def pager(aws: None) -> tuple[Any, Any, str, str]:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="pages")["TopicArn"]
    url = sqs.create_queue(QueueName="pages-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return sns, sqs, topic, url


def _page(sns: Any, topic: str, ticket_id: str, level: int, action: str = "trigger") -> None:
    sns.publish(
        TopicArn=topic,
        Subject=f"[URGENT] {ticket_id}: checkout down",
        Message="{}",
        MessageAttributes={
            "escalation_level": {"DataType": "Number", "StringValue": str(level)},
            "event_action": {"DataType": "String", "StringValue": action},
        },
    )


@pytest.mark.timeout(300)
def test_page_counter_hour_of_repages_counts_every_first_page_once(pager: tuple[Any, Any, str, str]) -> None:
    sns, sqs, topic, url = pager
    urgent = [f"INC-{n:06d}" for n in range(100)]
    # GIVEN the counter running while the load runs
    counter = PageCounter(sqs, url)
    counter.start()

    # WHEN, over the run, each urgent incident pages once at level 1, one of them twice, and the
    # unacknowledged ones re-page at levels 2 and 3 (and one level-1 page is stood down)
    def load() -> None:
        for n in range(REPAGES):
            if n < len(urgent):
                _page(sns, topic, urgent[n], 1)
            _page(sns, topic, urgent[n % len(urgent)], 2 + n % 2)
        _page(sns, topic, urgent[7], 1)
        _page(sns, topic, urgent[8], 1, action="acknowledge")

    running = threading.Thread(target=load)
    running.start()
    running.join()
    pages = counter.finish(lambda: urgent, timeout=20)
    # THEN every first page is counted, the duplicate shows, the stand-down and the re-pages are not
    # pages of level 1: counted as they came, so the queue never held the hour's re-pages
    assert not counter.error
    assert {t: n for t, n in pages.items() if n != 1} == {urgent[7]: 2}
    assert set(pages) == set(urgent)
    assert counter.messages == REPAGES + 102
