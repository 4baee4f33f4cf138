"""Tick requests (services.tick_requests), and indexes of finished runs and of wait history
by end time (the last hour's counts, /metrics and retention read a range of them)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('queueing', '0005_step_slot_wait'),
    ]

    operations = [
        migrations.CreateModel(
            name='TickRequest',
            fields=[
                ('daemon', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('requested_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('ended_at__isnull', False)), fields=['ended_at'], name='run_ended'),
        ),
        migrations.AddIndex(
            model_name='runwait',
            index=models.Index(fields=['ended_at'], name='runwait_ended'),
        ),
    ]
