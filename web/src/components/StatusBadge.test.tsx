import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StatusBadge } from './StatusBadge';

describe('StatusBadge', () => {
  it.each([
    ['pending', 'Pending'],
    ['running', 'Running'],
    ['completed', 'Completed'],
    ['failed', 'Failed'],
    ['skipped', 'Skipped'],
    ['processing', 'Processing'],
    ['cancelled', 'Cancelled'],
  ])('%s is shown in words, not colour alone', (status, word) => {
    const { container } = render(<StatusBadge status={status} />);
    expect(screen.getByText(word)).toBeInTheDocument();
    expect(container.querySelector(`[data-status="${status}"]`)).toHaveTextContent(word);
  });
  it('an unknown status is shown as is', () => {
    render(<StatusBadge status="archived" />);
    expect(screen.getByText('archived')).toBeInTheDocument();
  });
});
