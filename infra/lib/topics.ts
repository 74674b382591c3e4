// Topic policies the stacks share.

import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sns from 'aws-cdk-lib/aws-sns';

/**
 * Let CloudWatch alarms of `account`/`region` publish to `topic`. A topic with a policy
 * (enforceSSL writes one, holding only its Deny) admits nobody else, so without this no
 * alarm notification is ever delivered.
 */
export function admitAlarms(topic: sns.Topic, account: string, region: string): void {
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsPublish',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:${region}:${account}:alarm:*` },
        StringEquals: { 'aws:SourceAccount': account },
      },
    }),
  );
}
